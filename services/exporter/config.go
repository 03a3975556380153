package exporter

import (
	"fmt"
	"strings"
	"time"
)

// Config is the exporter's configuration. The env tags are the variables
// the command reads; DefaultConfig has the same defaults.
type Config struct {
	// DatasetPrefix starts the name of the dataset a request without
	// export.datasetName exports to: the prefix, then the segment's name
	// made safe.
	DatasetPrefix string `env:"SEGFLOW_EXPORT_DATASET_PREFIX, default=segflow-"`
	// Fields are the profile fields exported when the request names none
	// (comma-separated dot paths, such as
	// "identityMap,person.name,personalEmail.address"); empty exports
	// every field.
	Fields string `env:"SEGFLOW_EXPORT_FIELDS"`
	// Timeout bounds an export job, from when the exporter first set out
	// to export the request: a job not done by then is cancelled and the
	// request fails (export.failed).
	Timeout time.Duration `env:"SEGFLOW_EXPORT_TIMEOUT, default=2h"`
	// Poll is the first wait between two polls of the export job; the
	// waits grow to PollMax.
	Poll    time.Duration `env:"SEGFLOW_EXPORT_POLL, default=1s"`
	PollMax time.Duration `env:"SEGFLOW_EXPORT_POLL_MAX, default=30s"`
	// ClockSkew is how far the Platform's clock may be behind ours: after
	// an export job's create got no answer, the next delivery takes a job
	// of the segment into the dataset created up to this long before the
	// attempt for the one it created.
	ClockSkew time.Duration `env:"SEGFLOW_EXPORT_CLOCK_SKEW, default=5m"`
	// CreateLease is how long a create that another message of the same
	// request (a copy, not a redelivery) started is left to it: until
	// then this message is retried later instead of creating a second
	// dataset or job; after it, the other message is taken for dead.
	// It must outlast one create call, the client's retries included.
	CreateLease time.Duration `env:"SEGFLOW_EXPORT_CREATE_LEASE, default=10m"`
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	return Config{
		DatasetPrefix: "segflow-",
		Timeout:       2 * time.Hour,
		Poll:          time.Second,
		PollMax:       30 * time.Second,
		ClockSkew:     5 * time.Minute,
		CreateLease:   10 * time.Minute,
	}
}

// Validate checks the configuration and names the variable at fault.
func (c Config) Validate() error {
	switch {
	case len(c.DatasetPrefix) > 64:
		return fmt.Errorf("SEGFLOW_EXPORT_DATASET_PREFIX is longer than 64 bytes")
	case strings.ContainsAny(c.DatasetPrefix, "\x00\r\n\t"):
		return fmt.Errorf("SEGFLOW_EXPORT_DATASET_PREFIX holds a control character")
	case c.Timeout <= 0:
		return fmt.Errorf("SEGFLOW_EXPORT_TIMEOUT must be positive, not %v", c.Timeout)
	case c.Poll <= 0:
		return fmt.Errorf("SEGFLOW_EXPORT_POLL must be positive, not %v", c.Poll)
	case c.PollMax < c.Poll:
		return fmt.Errorf("SEGFLOW_EXPORT_POLL_MAX (%v) must not be below SEGFLOW_EXPORT_POLL (%v)", c.PollMax, c.Poll)
	case c.ClockSkew < 0:
		return fmt.Errorf("SEGFLOW_EXPORT_CLOCK_SKEW must not be negative")
	case c.CreateLease <= 0:
		return fmt.Errorf("SEGFLOW_EXPORT_CREATE_LEASE must be positive, not %v", c.CreateLease)
	}
	if strings.TrimSpace(c.Fields) != "" {
		for _, f := range strings.Split(c.Fields, ",") {
			if strings.TrimSpace(f) == "" {
				return fmt.Errorf("SEGFLOW_EXPORT_FIELDS %q has an empty field", c.Fields)
			}
		}
	}
	return nil
}

// fields is Fields without blanks, comma-separated.
func (c Config) fields() string {
	var out []string
	for _, f := range strings.Split(c.Fields, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return strings.Join(out, ",")
}
