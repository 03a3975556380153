package segmenter

import (
	"fmt"
	"time"
)

// Config is the segmenter's configuration. The env tags are the variables
// the command reads; DefaultConfig has the same defaults.
type Config struct {
	// JobTimeout bounds a segment job, from when the segmenter first set
	// out to create it: a job not done by then is cancelled and the
	// request fails (job.failed).
	JobTimeout time.Duration `env:"SEGFLOW_JOB_TIMEOUT, default=2h"`
	// JobPoll is the first wait between two polls of a job; the waits
	// grow to JobPollMax.
	JobPoll    time.Duration `env:"SEGFLOW_JOB_POLL, default=1s"`
	JobPollMax time.Duration `env:"SEGFLOW_JOB_POLL_MAX, default=30s"`
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	return Config{JobTimeout: 2 * time.Hour, JobPoll: time.Second, JobPollMax: 30 * time.Second}
}

// Validate checks the configuration, naming the variable at fault.
func (c Config) Validate() error {
	switch {
	case c.JobTimeout <= 0:
		return fmt.Errorf("SEGFLOW_JOB_TIMEOUT must be positive, not %v", c.JobTimeout)
	case c.JobPoll <= 0:
		return fmt.Errorf("SEGFLOW_JOB_POLL must be positive, not %v", c.JobPoll)
	case c.JobPollMax < c.JobPoll:
		return fmt.Errorf("SEGFLOW_JOB_POLL_MAX (%v) must not be below SEGFLOW_JOB_POLL (%v)", c.JobPollMax, c.JobPoll)
	}
	return nil
}
