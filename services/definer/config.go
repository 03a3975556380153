package definer

import (
	"fmt"
	"time"
)

// Config is the definer's configuration. The env tags are the variables
// the command reads; DefaultConfig has the same defaults.
type Config struct {
	// EstimateTimeout bounds the wait for one estimate. An estimate that
	// is not ready by then fails the request (definition.failed).
	EstimateTimeout time.Duration `env:"SEGFLOW_ESTIMATE_TIMEOUT, default=5m"`
	// EstimatePoll is the first wait between two polls of an estimate;
	// the waits grow to EstimatePollMax.
	EstimatePoll    time.Duration `env:"SEGFLOW_ESTIMATE_POLL, default=500ms"`
	EstimatePollMax time.Duration `env:"SEGFLOW_ESTIMATE_POLL_MAX, default=5s"`
	// EstimateMergePolicy sends the request's definition.mergePolicyId
	// with the preview. It is a ups extension: the Platform's preview
	// always uses the sandbox's default merge policy, so leave it off
	// against the Platform.
	EstimateMergePolicy bool `env:"SEGFLOW_ESTIMATE_MERGE_POLICY, default=false"`
}

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	return Config{
		EstimateTimeout: 5 * time.Minute,
		EstimatePoll:    500 * time.Millisecond,
		EstimatePollMax: 5 * time.Second,
	}
}

// Validate checks the configuration, naming the variable at fault.
func (c Config) Validate() error {
	switch {
	case c.EstimateTimeout <= 0:
		return fmt.Errorf("SEGFLOW_ESTIMATE_TIMEOUT must be positive, not %v", c.EstimateTimeout)
	case c.EstimatePoll <= 0:
		return fmt.Errorf("SEGFLOW_ESTIMATE_POLL must be positive, not %v", c.EstimatePoll)
	case c.EstimatePollMax < c.EstimatePoll:
		return fmt.Errorf("SEGFLOW_ESTIMATE_POLL_MAX (%v) must not be below SEGFLOW_ESTIMATE_POLL (%v)", c.EstimatePollMax, c.EstimatePoll)
	}
	return nil
}
