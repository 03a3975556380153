package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestLoadUPSConfig(t *testing.T) {
	cfg, err := loadUPSConfig(context.Background(), []string{"SEGFLOW_DATA_DIR=/tmp/x", "UNRELATED=1"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.DataDir != "/tmp/x" || cfg.TokenTTL != 24*time.Hour || !strings.HasPrefix(cfg.Clients, "segflow-dev:") {
		t.Fatalf("defaults: %+v", cfg)
	}
	for _, tt := range []struct {
		env  string
		want string
	}{
		{"SEGFLOW_UPS_CLIENTS=nocolon", "SEGFLOW_UPS_CLIENTS"},
		{"SEGFLOW_UPS_TOKEN_TTL=5s", "SEGFLOW_UPS_TOKEN_TTL"},
		{"SEGFLOW_UPS_TOKEN_TTL=soon", "SEGFLOW_UPS_TOKEN_TTL"},
		{"SEGFLOW_UPS_MAX_BODY_BYTES=10", "SEGFLOW_UPS_MAX_BODY_BYTES"},
	} {
		_, err := loadUPSConfig(context.Background(), []string{tt.env})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to name %s", tt.env, err, tt.want)
		}
	}
}

func TestRunUPSRejectsArguments(t *testing.T) {
	if err := runUPS(context.Background(), []string{"extra"}, nil, nil); err == nil {
		t.Fatal("ups with an argument ran")
	}
}
