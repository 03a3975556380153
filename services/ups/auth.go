package ups

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// tokenIssuer issues and verifies IMS access tokens. Tokens are signed,
// not stored, so they survive restarts: the signing key lives in the data
// directory.
type tokenIssuer struct {
	key     []byte
	ttl     time.Duration
	now     func() time.Time
	clients map[string]Client
}

// tokenClaims is what a token says. It is never logged.
type tokenClaims struct {
	Client string `json:"c"`
	Org    string `json:"o"`
	Expiry int64  `json:"e"` // Unix seconds
}

// loadKey reads the token signing key from dir, creating it on first start.
func loadKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, "ims-signing.key")
	key, err := os.ReadFile(path)
	if err == nil && len(key) == 32 {
		return key, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	key = []byte(randomHex(16))
	if err := writeFileAtomic(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return key, nil
}

func (t *tokenIssuer) issue(c Client) (string, time.Duration) {
	claims, _ := json.Marshal(tokenClaims{Client: c.ID, Org: c.Org, Expiry: t.now().Add(t.ttl).Unix()})
	body := base64.RawURLEncoding.EncodeToString(claims)
	return body + "." + t.sign(body), t.ttl
}

func (t *tokenIssuer) sign(body string) string {
	m := hmac.New(sha256.New, t.key)
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// verify returns the claims of a valid, unexpired token of a known client.
func (t *tokenIssuer) verify(token string) (tokenClaims, bool) {
	body, sig, ok := strings.Cut(token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(t.sign(body))) {
		return tokenClaims{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		return tokenClaims{}, false
	}
	var c tokenClaims
	if json.Unmarshal(raw, &c) != nil || t.now().Unix() >= c.Expiry {
		return tokenClaims{}, false
	}
	if cl, ok := t.clients[c.Client]; !ok || cl.Org != c.Org {
		return tokenClaims{}, false // the client was removed from the configuration
	}
	return c, true
}

// handleToken is POST /ims/token/v3: OAuth client credentials.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "the body must be application/x-www-form-urlencoded"})
		return
	}
	if gt := r.Form.Get("grant_type"); gt != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": fmt.Sprintf("grant_type %q is not supported: use client_credentials", gt)})
		return
	}
	id, secret := r.Form.Get("client_id"), r.Form.Get("client_secret")
	c, ok := s.tokens.clients[id]
	if !ok || subtle.ConstantTimeCompare([]byte(c.Secret), []byte(secret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "invalid client_id or client_secret"})
		return
	}
	token, ttl := s.tokens.issue(c)
	writeJSON(w, http.StatusOK, map[string]any{"access_token": token, "token_type": "bearer", "expires_in": int64(ttl.Seconds())})
}

// Caller is who makes an API call and where: the context of every object.
type Caller struct {
	ClientID string
	Org      string
	Sandbox  string
}

type callerKey struct{}

// CallerFrom returns the caller the gateway authenticated.
func CallerFrom(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(Caller)
	return c, ok
}

var sandboxName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// gateway does what the Platform's API gateway does before a service sees
// a request: token, API key, org and sandbox headers, content type.
func (s *Server) gateway(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		if auth == "" {
			gatewayError(w, http.StatusForbidden, "403010", "Oauth token is missing.")
			return
		}
		token, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok {
			token, ok = strings.CutPrefix(auth, "bearer ")
		}
		claims, valid := s.tokens.verify(strings.TrimSpace(token))
		if !ok || !valid {
			gatewayError(w, http.StatusUnauthorized, "401013", "Oauth token is not valid")
			return
		}
		switch key := r.Header.Get("x-api-key"); {
		case key == "":
			gatewayError(w, http.StatusForbidden, "403000", "Api Key is required")
			return
		case key != claims.Client:
			gatewayError(w, http.StatusForbidden, "403003", "Api Key is invalid")
			return
		}
		switch org := r.Header.Get("x-gw-ims-org-id"); {
		case org == "":
			gatewayError(w, http.StatusBadRequest, "400003", "Missing header")
			return
		case org != claims.Org:
			gatewayError(w, http.StatusForbidden, "403025", "Profile is not valid")
			return
		}
		sandbox := r.Header.Get("x-sandbox-name")
		if sandbox == "" {
			sandbox = "prod"
		}
		if !sandboxName.MatchString(sandbox) {
			catalogError(w, http.StatusBadRequest, titleBadRequest, fmt.Sprintf("x-sandbox-name %q is not a sandbox name: lowercase letters, digits and dashes", sandbox))
			return
		}
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			// A request with no body needs no content type: Adobe's own
			// guide sends POST …?action=COMPLETE without one.
			if r.Header.Get("Content-Type") == "" && r.ContentLength != 0 {
				catalogError(w, http.StatusBadRequest, titleBadRequest, "A valid content-type must be specified")
				return
			}
		}
		ctx := context.WithValue(r.Context(), callerKey{}, Caller{ClientID: claims.Client, Org: claims.Org, Sandbox: sandbox})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
