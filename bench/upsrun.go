package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/sethvargo/go-envconfig"

	"github.com/segflow/segflow/services/ups"
)

// Dev client of ups's default configuration (SEGFLOW_UPS_CLIENTS).
const (
	devClientID = "segflow-dev"
	devSecret   = "segflow-dev-secret"
	devOrg      = "SEGFLOWDEV@AdobeOrg"
	devSandbox  = "prod"
)

// benchClock is ups's clock: it starts at the data set's "now" and runs
// at the speed of the wall clock, in whole milliseconds.
//
// A clock stopped at the data set's now would make every job's
// profileSegmentationTime and totalTime 0 ms, so the clock runs; the
// counts stay comparable because a segment job evaluates its PQL at one
// instant, which it reports as metrics.profileSegmentationTime
// .startTimeInMs (whole milliseconds on this clock), and DuckDB's query
// for that job uses the same instant as its reference time. Starting at
// the data set's now keeps the data's last events within "30 days before
// now" whether the data set was generated a second or a week ago.
type benchClock struct {
	anchor time.Time
	start  time.Time // wall-clock reading at anchor
}

func newBenchClock(anchor time.Time) *benchClock {
	return &benchClock{anchor: anchor.UTC(), start: time.Now()}
}

func (c *benchClock) Now() time.Time {
	return c.anchor.Add(time.Since(c.start)).Truncate(time.Millisecond)
}

// benchUPS is ups running in this process on a loopback port.
type benchUPS struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

// startUPS opens ups over dataDir with the default configuration (dev
// client included) and serves it on 127.0.0.1:0.
func startUPS(ctx context.Context, dataDir string, clock func() time.Time, logOut io.Writer) (*benchUPS, error) {
	// ups's defaults, as an empty environment gives them (the dev
	// client included), as upstest does.
	var cfg ups.Config
	if err := envconfig.ProcessWith(ctx, &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(nil)}); err != nil {
		return nil, err
	}
	cfg.Addr, cfg.DataDir = "127.0.0.1:0", dataDir
	cfg.Clients = devClientID + ":" + devSecret + "@" + devOrg
	// No background snapshot while jobs are being timed: ups writes one
	// when it stops. Restart time is "segflow bench ingest"'s business,
	// not this benchmark's.
	cfg.SnapshotRecords = math.MaxInt32
	log := zerolog.Nop()
	if logOut != nil {
		log = zerolog.New(logOut).With().Timestamp().Str("service", "ups").Logger().Level(zerolog.WarnLevel)
	}
	srv, err := ups.New(cfg, ups.Options{Logger: log, Registerer: prometheus.NewRegistry(), Now: clock})
	if err != nil {
		return nil, fmt.Errorf("starting ups: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	u := &benchUPS{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() { u.done <- srv.Run(ctx, ready) }()
	select {
	case addr := <-ready:
		u.url = "http://" + addr
		return u, nil
	case err := <-u.done:
		cancel()
		srv.Close()
		return nil, fmt.Errorf("starting ups: %w", err)
	}
}

// stop shuts ups down and waits for it; stop after stop does nothing.
func (u *benchUPS) stop() error {
	if u == nil || u.done == nil {
		return nil
	}
	u.cancel()
	err := <-u.done
	u.done = nil
	return err
}
