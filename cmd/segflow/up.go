package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/segflow/segflow/pkg/events"
	"github.com/segflow/segflow/services/ups"
)

// upSampleProfiles is the sample segflow up loads into a new ups unless
// SEGFLOW_UPS_SAMPLE_PROFILES says otherwise.
const upSampleProfiles = 10_000

// runUp implements "segflow up": NATS (embedded unless SEGFLOW_NATS_URL),
// ups (in-process unless SEGFLOW_PLATFORM_URL) and the four stages, in one
// process, until ctx is done.
func runUp(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		return fmt.Errorf("up takes no arguments, only SEGFLOW_* environment variables (see README): %w", errUsage)
	}
	return serveUp(ctx, environ, stderr, func(u upStarted) {
		fmt.Fprintf(stdout, `Segflow is up.
  NATS      %s (%s)
  Platform  %s (%s, sandbox %s)
  Stages    definer, segmenter, exporter, reader
  Metrics   %s  (/healthz, /readyz)

Try:  segflow request -name "US customers" -pql 'homeAddress.countryCode = "US"'
Stop: Ctrl-C
`, u.natsShown, u.natsNote, u.platformURL, u.platformNote, u.sandbox, u.metricsURL)
	})
}

// upStarted is where a started up listens, and what it runs.
type upStarted struct {
	natsURL, natsShown, natsNote string // natsShown: without credentials
	platformURL, platformNote    string
	sandbox                      string
	metricsURL                   string
}

// serveUp runs up until ctx is done, logging to stderr; started is called
// once everything listens.
func serveUp(ctx context.Context, environ []string, stderr io.Writer, started func(upStarted)) error {
	if _, set := lookupEnv(environ, "SEGFLOW_UPS_SAMPLE_PROFILES"); !set {
		environ = append(environ[:len(environ):len(environ)], "SEGFLOW_UPS_SAMPLE_PROFILES="+strconv.Itoa(upSampleProfiles))
	}
	_, externalPlatform := lookupEnv(environ, "SEGFLOW_PLATFORM_URL")
	_, externalNATS := lookupEnv(environ, "SEGFLOW_NATS_URL")
	c, err := loadPipelineConfigs(ctx, environ)
	if err != nil {
		return err
	}
	log := c.proc.logger(stderr)
	reg := newRegistry()

	natsNote := "external"
	if !externalNATS {
		embedded, err := loadEnvConfig[embeddedNATSConfig](ctx, environ)
		if err != nil {
			return err
		}
		storeDir := filepath.Join(c.dataDir, "nats")
		ns, err := startNATS(embedded.Addr, storeDir)
		if err != nil {
			return err
		}
		defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
		c.nats.URL, natsNote = ns.ClientURL(), "embedded, JetStream in "+storeDir
	}

	platformNote := "external"
	if !externalPlatform {
		upsCfg, err := loadUPSConfig(ctx, environ)
		if err != nil {
			return err
		}
		defer tuneGC(environ, upsCfg.MemoryLimitMB)()
		log.Info().Str("service", "ups").Str("collector", gcSetting()).Msg("opening the store")
		srv, err := ups.New(upsCfg, ups.Options{Logger: log.With().Str("service", "ups").Logger(), Registerer: reg})
		if err != nil {
			return err
		}
		// ups stops after the stages (deferred calls run in reverse).
		upsCtx, stopUPS := context.WithCancel(context.WithoutCancel(ctx))
		upsDone := make(chan error, 1)
		defer func() { stopUPS(); <-upsDone }()
		ready := make(chan string, 1)
		go func() { upsDone <- srv.Run(upsCtx, ready) }()
		select {
		case addr := <-ready:
			c.platform.BaseURL = "http://" + addr
		case err := <-upsDone:
			upsDone <- err // for the deferred wait
			return err
		}
		platformNote = "ups, data in " + upsCfg.DataDir
		if upsCfg.SampleProfiles > 0 {
			platformNote += fmt.Sprintf(", a sample of %d profiles on first start", upsCfg.SampleProfiles)
		}
	}

	return servePipeline(ctx, c, environ, events.Stages(), reg, log, func(metricsAddr string, _ *nats.Conn) {
		started(upStarted{
			natsURL: c.nats.URL, natsShown: c.nats.redactedURLs(), natsNote: natsNote,
			platformURL: c.platform.BaseURL, platformNote: platformNote, sandbox: c.platform.Sandbox,
			metricsURL: "http://" + metricsAddr + "/metrics",
		})
	})
}

// startNATS runs an embedded NATS server with JetStream on addr, storing
// in dir.
func startNATS(addr, dir string) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("SEGFLOW_NATS_ADDR %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("SEGFLOW_NATS_ADDR %q: the port is not a number", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default port
	}
	ns, err := server.NewServer(&server.Options{
		ServerName: "segflow", Host: host, Port: port,
		JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(15 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("the embedded NATS server did not start on %s: if the port is taken, set SEGFLOW_NATS_ADDR to a free address, or SEGFLOW_NATS_URL to a running NATS server", addr)
	}
	return ns, nil
}

// lookupEnv finds key in environ (KEY=value); the last one wins, as in
// the process environment.
func lookupEnv(environ []string, key string) (string, bool) {
	val, found := "", false
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			val, found = v, true
		}
	}
	return val, found
}
