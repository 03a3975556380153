package main

import (
	"context"
	"strings"
	"testing"
)

func TestLoadPlatformConfig(t *testing.T) {
	cfg, err := loadPlatformConfig(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseURL != "http://127.0.0.1:8080" || cfg.IMSURL != "" || cfg.ClientID != "segflow-dev" || cfg.ClientSecret != "segflow-dev-secret" ||
		cfg.OrgID != "SEGFLOWDEV@AdobeOrg" || cfg.Sandbox != "prod" || cfg.HTTPClient != nil {
		t.Fatalf("defaults: %s", cfg)
	}
	cfg, err = loadPlatformConfig(context.Background(), []string{
		"SEGFLOW_PLATFORM_URL=https://platform.adobe.io", "SEGFLOW_IMS_URL=https://ims-na1.adobelogin.com",
		"SEGFLOW_CLIENT_ID=abc", "SEGFLOW_CLIENT_SECRET=xyz", "SEGFLOW_ORG_ID=O@AdobeOrg", "SEGFLOW_SANDBOX=dev-2", "SEGFLOW_IMS_SCOPE=openid",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseURL != "https://platform.adobe.io" || cfg.IMSURL != "https://ims-na1.adobelogin.com" || cfg.ClientID != "abc" || cfg.ClientSecret != "xyz" ||
		cfg.OrgID != "O@AdobeOrg" || cfg.Sandbox != "dev-2" || cfg.Scope != "openid" {
		t.Fatalf("from env: %s", cfg)
	}
	for _, tt := range []struct{ env, want string }{
		{"SEGFLOW_PLATFORM_URL=nohost", "SEGFLOW_PLATFORM_URL"},
		{"SEGFLOW_IMS_URL=ftp://x", "SEGFLOW_IMS_URL"},
		{"SEGFLOW_SANDBOX=PROD", "SEGFLOW_SANDBOX"},
		{"SEGFLOW_CLIENT_ID=", "SEGFLOW_CLIENT_ID"},
	} {
		_, err := loadPlatformConfig(context.Background(), []string{tt.env})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to name %s", tt.env, err, tt.want)
		}
	}
}
