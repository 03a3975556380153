package exporter_test

import (
	"strings"
	"testing"
	"time"

	"github.com/segflow/segflow/services/exporter"
	"github.com/segflow/segflow/services/stage/stagetest"
)

func TestConfigFromEnv(t *testing.T) {
	c := stagetest.FromEnv[exporter.Config](t, nil)
	if c != exporter.DefaultConfig() {
		t.Fatalf("defaults from the environment %+v, DefaultConfig %+v", c, exporter.DefaultConfig())
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SEGFLOW_EXPORT_FIELDS": "identityMap,person.name", "SEGFLOW_EXPORT_POLL_MAX": "1m", "SEGFLOW_EXPORT_DATASET_PREFIX": "aud-", "SEGFLOW_EXPORT_TIMEOUT": "3h"}
	c = stagetest.FromEnv[exporter.Config](t, env)
	if c.Fields != "identityMap,person.name" || c.PollMax != time.Minute || c.DatasetPrefix != "aud-" || c.Timeout != 3*time.Hour {
		t.Fatalf("%+v", c)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		change func(*exporter.Config)
		want   string
	}{
		{func(c *exporter.Config) { c.Poll = 0 }, "SEGFLOW_EXPORT_POLL"},
		{func(c *exporter.Config) { c.PollMax = time.Millisecond }, "SEGFLOW_EXPORT_POLL_MAX"},
		{func(c *exporter.Config) { c.Timeout = -1 }, "SEGFLOW_EXPORT_TIMEOUT"},
		{func(c *exporter.Config) { c.ClockSkew = -time.Second }, "SEGFLOW_EXPORT_CLOCK_SKEW"},
		{func(c *exporter.Config) { c.CreateLease = 0 }, "SEGFLOW_EXPORT_CREATE_LEASE"},
		{func(c *exporter.Config) { c.Fields = "a,,b" }, "SEGFLOW_EXPORT_FIELDS"},
		{func(c *exporter.Config) { c.DatasetPrefix = strings.Repeat("x", 65) }, "SEGFLOW_EXPORT_DATASET_PREFIX"},
		{func(c *exporter.Config) { c.DatasetPrefix = "a\nb" }, "SEGFLOW_EXPORT_DATASET_PREFIX"},
	} {
		c := exporter.DefaultConfig()
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.want, err)
		}
		if _, nerr := exporter.New(nil, c); nerr == nil {
			t.Errorf("%s: New accepted it", tc.want)
		}
	}
}
