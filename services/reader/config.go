package reader

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"gocloud.dev/blob"
)

// Config is the reader's configuration. The env tags are the variables
// the command reads.
type Config struct {
	// SinkURL is the gocloud.dev/blob bucket the files are stored in:
	// file:///var/lib/segflow/audiences, s3://bucket?region=eu-west-1,
	// gs://bucket, azblob://container (each with its driver's query
	// parameters; "prefix=" puts the keys under a prefix). Empty is not
	// valid: the command sets DefaultSinkURL(SEGFLOW_DATA_DIR) when the
	// variable is unset.
	SinkURL string `env:"SEGFLOW_SINK_URL"`
	// ParallelFiles is how many files of one batch are downloaded at once.
	ParallelFiles int `env:"SEGFLOW_DOWNLOAD_CONCURRENCY, default=4"`
}

// DefaultConfig is the configuration with every default, storing under
// dataDir.
func DefaultConfig(dataDir string) Config {
	return Config{SinkURL: DefaultSinkURL(dataDir), ParallelFiles: 4}
}

// DefaultSinkURL is the default sink: the directory audiences under
// dataDir (made absolute), created if missing, without the file driver's
// metadata sidecar files, with temporary files written beside the final
// ones (so that renaming them works when the directory is a mounted
// volume).
func DefaultSinkURL(dataDir string) string {
	dir, err := filepath.Abs(filepath.Join(dataDir, "audiences"))
	if err != nil {
		dir = filepath.Join(dataDir, "audiences")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(dir), RawQuery: "create_dir=true&metadata=skip&no_tmp_dir=true"}
	if len(u.Path) > 0 && u.Path[0] != '/' {
		u.Path = "/" + u.Path // a Windows drive letter
	}
	return u.String()
}

// Validate checks the configuration and names the variable at fault.
func (c Config) Validate() error {
	if c.SinkURL == "" {
		return fmt.Errorf("SEGFLOW_SINK_URL is empty")
	}
	u, err := url.Parse(c.SinkURL)
	if err != nil {
		return fmt.Errorf("SEGFLOW_SINK_URL is not a URL: %w", err)
	}
	mux := blob.DefaultURLMux()
	if !mux.ValidBucketScheme(u.Scheme) {
		schemes := mux.BucketSchemes()
		slices.Sort(schemes)
		return fmt.Errorf("SEGFLOW_SINK_URL %q: the scheme %q is not one of %s", redact(u), u.Scheme, strings.Join(schemes, ", "))
	}
	if c.ParallelFiles < 1 || c.ParallelFiles > 64 {
		return fmt.Errorf("SEGFLOW_DOWNLOAD_CONCURRENCY must be from 1 to 64, not %d", c.ParallelFiles)
	}
	return nil
}

// redact is u without its query and user info, which may hold secrets.
func redact(u *url.URL) string {
	c := *u
	c.User, c.RawQuery = nil, ""
	return c.String()
}
