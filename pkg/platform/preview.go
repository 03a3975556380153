package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Previews and estimates (aep-api.md §2): POST /preview starts evaluating
// a PQL predicate over a sample of the profiles; GET /estimate/{id}
// reports the estimated audience size (the estimate shares the preview's
// id); GET /preview/{id} pages through the qualifying profiles read.
//
// Retries: reads and DELETE are retried, and so is the create, by choice:
// a preview is a read-only computation that changes no profile, no
// definition and no membership, and that the Platform expires on its own,
// so a duplicate started by a retry after a timeout costs only compute
// (on ups, one of the sandbox's preview slots until it is deleted or
// expires). Nothing downstream depends on there being exactly one.

const (
	previewPath  = "/data/core/ups/preview"
	estimatePath = "/data/core/ups/estimate"
)

// Preview states.
const (
	PreviewNew         = "NEW"
	PreviewRunning     = "RUNNING"
	PreviewResultReady = "RESULT_READY"
	PreviewFailed      = "FAILED"
)

// Graph types of a preview: none (no identity stitching) or pdg (the
// private identity graph).
const (
	GraphNone = "none"
	GraphPDG  = "pdg"
)

// PreviewRequest is the body of POST /preview.
type PreviewRequest struct {
	// PredicateExpression is the PQL query.
	PredicateExpression string `json:"predicateExpression"`
	// PredicateType is the query's format: FormatPQLText (the default).
	PredicateType string `json:"predicateType,omitempty"`
	// PredicateModel is the XDM class evaluated; ProfileClass when empty.
	PredicateModel string `json:"predicateModel,omitempty"`
	// GraphType is GraphNone or GraphPDG; empty leaves the merge policy's.
	GraphType string `json:"graphType,omitempty"`
	// MergePolicyID is a ups extension (the Platform's preview uses the
	// default merge policy): the merge policy to preview with. Leave it
	// empty against the Platform.
	MergePolicyID string `json:"mergePolicyId,omitempty"`
}

// Preview is the answer of POST /preview: the job's ids and first state.
// PreviewID names both the preview and its estimate.
type Preview struct {
	State              string `json:"state"`
	PreviewQueryID     string `json:"previewQueryId"`
	PreviewQueryStatus string `json:"previewQueryStatus"`
	PreviewID          string `json:"previewId"`
	PreviewExecutionID int    `json:"previewExecutionId"`
}

// CreatePreview starts a preview (and its estimate) of a predicate. It is
// retried (see the top of this file).
func (c *Client) CreatePreview(ctx context.Context, req PreviewRequest) (Preview, error) {
	if req.PredicateExpression == "" {
		return Preview{}, errors.New("platform: CreatePreview: the predicate expression is empty")
	}
	if req.PredicateType == "" {
		req.PredicateType = FormatPQLText
	}
	if req.PredicateModel == "" {
		req.PredicateModel = ProfileClass
	}
	var out Preview
	if err := c.do(ctx, call{op: "CreatePreview", method: http.MethodPost, path: previewPath, jsonBody: req, idempotent: true, out: &out}); err != nil {
		return Preview{}, err
	}
	if out.PreviewID == "" {
		return Preview{}, errors.New("platform: CreatePreview: the answer has no previewId")
	}
	return out, nil
}

// Estimate is the answer of GET /estimate/{previewId}. While the estimate
// runs, ProfilesReadSoFar grows to NumRowsToRead and EstimatedSize is a
// rough extrapolation; at RESULT_READY it is final.
type Estimate struct {
	EstimatedSize                  int64               `json:"estimatedSize"`
	NumRowsToRead                  int64               `json:"numRowsToRead"`
	EstimatedNamespaceDistribution []NamespaceEstimate `json:"estimatedNamespaceDistribution"`
	State                          string              `json:"state"`
	ProfilesReadSoFar              int64               `json:"profilesReadSoFar"`
	StandardError                  float64             `json:"standardError"`
	Error                          struct {
		Description string `json:"description"`
		Traceback   string `json:"traceback"`
	} `json:"error"`
	ProfilesMatchedSoFar int64  `json:"profilesMatchedSoFar"`
	TotalRows            int64  `json:"totalRows"`
	ConfidenceInterval   string `json:"confidenceInterval"` // "95%"
	// ConfidenceIntervalLow and High bound the interval: ups sends them at
	// RESULT_READY, the Platform does not.
	ConfidenceIntervalLow  *int64 `json:"confidenceIntervalLow,omitempty"`
	ConfidenceIntervalHigh *int64 `json:"confidenceIntervalHigh,omitempty"`
	Links                  struct {
		// Preview is where the preview's profiles are, once RESULT_READY.
		Preview string `json:"preview,omitempty"`
	} `json:"_links"`
}

// NamespaceEstimate is the matched profiles of one identity namespace.
type NamespaceEstimate struct {
	NamespaceID          string `json:"namespaceId"`
	ProfilesMatchedSoFar int64  `json:"profilesMatchedSoFar"`
}

// UnmarshalJSON accepts the counts as floats or strings.
func (e *Estimate) UnmarshalJSON(b []byte) error {
	type plain Estimate
	w := struct {
		*plain
		EstimatedSize        number `json:"estimatedSize"`
		NumRowsToRead        number `json:"numRowsToRead"`
		ProfilesReadSoFar    number `json:"profilesReadSoFar"`
		ProfilesMatchedSoFar number `json:"profilesMatchedSoFar"`
		TotalRows            number `json:"totalRows"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	e.EstimatedSize, e.NumRowsToRead = int64(w.EstimatedSize), int64(w.NumRowsToRead)
	e.ProfilesReadSoFar, e.ProfilesMatchedSoFar, e.TotalRows = int64(w.ProfilesReadSoFar), int64(w.ProfilesMatchedSoFar), int64(w.TotalRows)
	return nil
}

// UnmarshalJSON accepts the count as a float or a string; the namespace
// as a string or a number.
func (n *NamespaceEstimate) UnmarshalJSON(b []byte) error {
	var w struct {
		NamespaceID          json.RawMessage `json:"namespaceId"`
		ProfilesMatchedSoFar number          `json:"profilesMatchedSoFar"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*n = NamespaceEstimate{NamespaceID: rawText(w.NamespaceID), ProfilesMatchedSoFar: int64(w.ProfilesMatchedSoFar)}
	return nil
}

// Done reports whether the estimate is final (RESULT_READY or FAILED).
func (e Estimate) Done() bool { return e.State == PreviewResultReady || e.State == PreviewFailed }

// Estimate returns the estimate of the preview previewID.
func (c *Client) Estimate(ctx context.Context, previewID string) (Estimate, error) {
	var out Estimate
	err := c.do(ctx, call{op: "Estimate", method: http.MethodGet, path: estimatePath + "/" + escape(previewID), out: &out})
	return out, err
}

// WaitEstimate polls the estimate until it is RESULT_READY (returned) or
// FAILED (returned with a *JobFailedError, errors.Is(err, ErrJobFailed)),
// as WaitSegmentJob polls a job.
func (c *Client) WaitEstimate(ctx context.Context, previewID string, opts WaitOptions) (Estimate, error) {
	return waitFor(ctx, "WaitEstimate", opts,
		func(ctx context.Context) (Estimate, error) { return c.Estimate(ctx, previewID) },
		func(e Estimate) (string, bool, error) {
			switch e.State {
			case PreviewResultReady:
				return e.State, true, nil
			case PreviewFailed:
				var errs []JobError
				if e.Error.Description != "" || e.Error.Traceback != "" {
					errs = []JobError{{Msg: e.Error.Description, CallStack: e.Error.Traceback}}
				}
				return e.State, true, &JobFailedError{Kind: "preview", ID: previewID, Status: e.State, Errors: errs}
			}
			return e.State, false, nil
		})
}

// PreviewPage is a page of a preview's qualifying profiles.
type PreviewPage struct {
	Results []PreviewProfile `json:"results"`
	State   string           `json:"state"`
	// Links are the documented example's links (D-PE): "" when there is
	// no next or previous page.
	Links struct {
		Self string `json:"_self"`
		Next string `json:"next"`
		Prev string `json:"prev"`
	} `json:"links"`
	// Link is SW-SEG's single link, when the answer has that form.
	Link string `json:"link,omitempty"`
	Page struct {
		Offset int `json:"offset"`
		Size   int `json:"size"`
	} `json:"page"`
}

// NextOffset is the offset of the next page, read from links.next, and
// whether there is one.
func (p PreviewPage) NextOffset() (int, bool) {
	if p.Links.Next == "" {
		return 0, false
	}
	if u, err := url.Parse(p.Links.Next); err == nil {
		if n, err := strconv.Atoi(u.Query().Get("offset")); err == nil && n > p.Page.Offset {
			return n, true
		}
	}
	if len(p.Results) == 0 {
		return 0, false
	}
	return p.Page.Offset + len(p.Results), true
}

// PreviewProfile is one qualifying profile of a preview: its id (an
// identity, "namespace:id" on ups), where the Profile API serves it, and
// the other identities of the profile.
type PreviewProfile struct {
	ID      string
	Href    string
	Related []PreviewObject
}

// PreviewObject is an identity of a previewed profile.
type PreviewObject struct {
	ID   string `json:"objectId"`
	Href string `json:"_href"`
}

// UnmarshalJSON reads both documented shapes: the doc example's
// {"<id>": {"_href": …, "endCustomerIds": {"<id>": {"_href": …}}}} and
// SW-SEG's {"objectId": …, "_href": …, "relatedObjects": [{"objectId",
// "_href"}]}.
func (p *PreviewProfile) UnmarshalJSON(b []byte) error {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		return err
	}
	*p = PreviewProfile{}
	_, hasObjectID := keys["objectId"]
	_, hasHref := keys["_href"]
	if hasObjectID || hasHref || len(keys) != 1 {
		var w struct {
			ObjectID       string          `json:"objectId"`
			Href           string          `json:"_href"`
			RelatedObjects []PreviewObject `json:"relatedObjects"`
		}
		if err := json.Unmarshal(b, &w); err != nil {
			return err
		}
		p.ID, p.Href, p.Related = w.ObjectID, w.Href, w.RelatedObjects
		return nil
	}
	for id, raw := range keys { // exactly one
		var w struct {
			Href           string          `json:"_href"`
			EndCustomerIDs json.RawMessage `json:"endCustomerIds"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			return fmt.Errorf("preview profile %s: %w", id, err)
		}
		p.ID, p.Href = id, w.Href
		if len(bytes.TrimSpace(w.EndCustomerIDs)) > 0 && w.EndCustomerIDs[0] == '{' {
			err := eachObject(w.EndCustomerIDs, func(key string, v json.RawMessage) error {
				var l struct {
					Href string `json:"_href"`
				}
				if err := json.Unmarshal(v, &l); err != nil {
					return fmt.Errorf("preview profile %s: identity %s: %w", id, key, err)
				}
				p.Related = append(p.Related, PreviewObject{ID: key, Href: l.Href})
				return nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// MarshalJSON writes SW-SEG's shape.
func (p PreviewProfile) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ObjectID       string          `json:"objectId"`
		Href           string          `json:"_href"`
		RelatedObjects []PreviewObject `json:"relatedObjects,omitempty"`
	}{p.ID, p.Href, p.Related})
}

// DefaultPreviewPage is the Platform's page size of a preview (1000).
const DefaultPreviewPage = 1000

// PreviewResults returns one page of the preview's profiles, from offset;
// limit 0 leaves the Platform's default page size (1000). A preview that
// is not RESULT_READY has no results yet.
func (c *Client) PreviewResults(ctx context.Context, previewID string, offset, limit int) (PreviewPage, error) {
	q := url.Values{}
	if offset > 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out PreviewPage
	err := c.do(ctx, call{op: "PreviewResults", method: http.MethodGet, path: previewPath + "/" + escape(previewID), query: q, out: &out})
	return out, err
}

// PreviewProfiles pages through the preview's profiles, pageSize at a
// time (0: DefaultPreviewPage), and returns at most limit of them (0: all).
func (c *Client) PreviewProfiles(ctx context.Context, previewID string, pageSize, limit int) ([]PreviewProfile, error) {
	if pageSize <= 0 {
		pageSize = DefaultPreviewPage
	}
	var out []PreviewProfile
	offset := 0
	for range maxPages {
		n := pageSize
		if limit > 0 {
			n = min(n, limit-len(out))
		}
		p, err := c.PreviewResults(ctx, previewID, offset, n)
		if err != nil {
			return out, err
		}
		out = append(out, p.Results...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
		next, ok := p.NextOffset()
		if !ok || next <= offset {
			return out, nil
		}
		offset = next
	}
	return out, nil
}

// DeletePreview deletes the preview (and its estimate). Retried like any
// DELETE: a 404 may mean an earlier attempt deleted it.
func (c *Client) DeletePreview(ctx context.Context, previewID string) error {
	return c.do(ctx, call{op: "DeletePreview", method: http.MethodDelete, path: previewPath + "/" + escape(previewID)})
}
