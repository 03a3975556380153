package ups

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is ups's configuration, read from the environment by the command.
type Config struct {
	// Addr is the HTTP listen address.
	Addr string `env:"SEGFLOW_UPS_ADDR, default=127.0.0.1:8080"`
	// DataDir holds every byte of ups's state.
	DataDir string `env:"SEGFLOW_DATA_DIR, default=segflow-data"`
	// Clients are the IMS clients allowed to get tokens, as
	// "client_id:client_secret@ORG_ID,..." (secrets may not hold "@" or ",").
	Clients string `env:"SEGFLOW_UPS_CLIENTS, default=segflow-dev:segflow-dev-secret@SEGFLOWDEV@AdobeOrg"`
	// TokenTTL is how long an access token lives.
	TokenTTL time.Duration `env:"SEGFLOW_UPS_TOKEN_TTL, default=24h"`
	// MaxBodyBytes bounds JSON request bodies (uploads have their own limit).
	MaxBodyBytes int64 `env:"SEGFLOW_UPS_MAX_BODY_BYTES, default=1048576"`
	// SnapshotRecords is how many ingested records make ups write a new
	// snapshot of the profile store (and at shutdown), or a quarter of
	// the store when that is more (half while batches queue up): a
	// restart after a crash replays at most about that many records.
	SnapshotRecords int `env:"SEGFLOW_UPS_SNAPSHOT_RECORDS, default=1000000"`
	// SampleProfiles, when positive, makes the first start of an empty
	// data directory load a generated sample of that many profiles (about
	// 20 events each) for the first client's org (see sample.go).
	SampleProfiles int `env:"SEGFLOW_UPS_SAMPLE_PROFILES, default=0"`
	// ColumnCacheMB bounds the memory the attributes kept by column for
	// segment jobs (see store_columns.go) take per merge policy and
	// sandbox; the least recently used go first.
	ColumnCacheMB int `env:"SEGFLOW_UPS_COLUMN_CACHE_MB, default=1024"`
	// MemoryLimitMB, when positive, is the memory the process may use.
	// It is the process's, not ups's: the command hands it to the Go
	// runtime (ups.New ignores it).
	MemoryLimitMB int `env:"SEGFLOW_UPS_MEMORY_LIMIT_MB, default=0"`
}

// Client is one IMS client-credentials integration.
type Client struct {
	ID     string
	Secret string
	Org    string
}

// ParseClients parses the SEGFLOW_UPS_CLIENTS format.
func ParseClients(s string) ([]Client, error) {
	var out []Client
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		id, rest, ok1 := strings.Cut(entry, ":")
		secret, org, ok2 := strings.Cut(rest, "@")
		if !ok1 || !ok2 || id == "" || secret == "" || org == "" {
			return nil, fmt.Errorf("SEGFLOW_UPS_CLIENTS entry %d: want client_id:client_secret@ORG_ID, got %q", i+1, redactSecret(entry))
		}
		out = append(out, Client{ID: id, Secret: secret, Org: org})
	}
	return out, nil
}

// redactSecret hides the secret of a malformed entry in error messages.
func redactSecret(entry string) string {
	id, rest, ok := strings.Cut(entry, ":")
	if !ok {
		return "(no client_id:...)"
	}
	if _, org, ok := strings.Cut(rest, "@"); ok {
		return id + ":***@" + org
	}
	return id + ":***"
}

// Validate checks the configuration and names the variable at fault.
func (c *Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("SEGFLOW_UPS_ADDR is empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("SEGFLOW_DATA_DIR is empty"))
	}
	if _, err := ParseClients(c.Clients); err != nil {
		errs = append(errs, err)
	}
	if c.TokenTTL < time.Minute {
		errs = append(errs, fmt.Errorf("SEGFLOW_UPS_TOKEN_TTL is %s, want at least 1m", c.TokenTTL))
	}
	if c.MaxBodyBytes < 1024 {
		errs = append(errs, fmt.Errorf("SEGFLOW_UPS_MAX_BODY_BYTES is %d, want at least 1024", c.MaxBodyBytes))
	}
	if c.MemoryLimitMB < 0 {
		errs = append(errs, fmt.Errorf("SEGFLOW_UPS_MEMORY_LIMIT_MB is %d, want 0 (no limit) or more", c.MemoryLimitMB))
	}
	if c.ColumnCacheMB < 1 {
		errs = append(errs, fmt.Errorf("SEGFLOW_UPS_COLUMN_CACHE_MB is %d, want at least 1", c.ColumnCacheMB))
	}
	if c.SnapshotRecords < 1 {
		errs = append(errs, fmt.Errorf("SEGFLOW_UPS_SNAPSHOT_RECORDS is %d, want at least 1", c.SnapshotRecords))
	}
	if c.SampleProfiles < 0 || c.SampleProfiles > 1_000_000 {
		errs = append(errs, fmt.Errorf("SEGFLOW_UPS_SAMPLE_PROFILES is %d, want 0 (no sample) to 1000000", c.SampleProfiles))
	}
	return errors.Join(errs...)
}
