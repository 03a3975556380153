package ups

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
)

// Options are what a Server gets from its owner besides configuration.
type Options struct {
	Logger     zerolog.Logger
	Registerer prometheus.Registerer // required
	// Gatherer, when set, is served on GET /metrics.
	Gatherer prometheus.Gatherer
	// Now is the clock (tests set it); time.Now when nil.
	Now func() time.Time
}

// Server is ups: the HTTP API over the state in Config.DataDir.
type Server struct {
	cfg      Config
	log      zerolog.Logger
	now      func() time.Time
	tokens   *tokenIssuer
	catalog  *catalog
	exports  *exporter
	policies *policyStore
	segments *definitionStore
	store    *profileStore
	members  *memberships
	segJobs  *segmentJobs
	ingest   *ingester
	previews *previews
	mux      *http.ServeMux
	handler  http.Handler
	metrics  *httpMetrics
}

// New opens (or creates) the state in cfg.DataDir and builds the API.
func New(cfg Config, opts Options) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Registerer == nil {
		return nil, errors.New("ups: Options.Registerer is required")
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating SEGFLOW_DATA_DIR %s: %w", cfg.DataDir, err)
	}
	key, err := loadKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	clients, _ := ParseClients(cfg.Clients) // validated above
	byID := make(map[string]Client, len(clients))
	for _, c := range clients {
		byID[c.ID] = c
	}
	cat, err := openCatalog(filepath.Join(cfg.DataDir, "catalog"), now)
	if err != nil {
		return nil, fmt.Errorf("opening the catalog in SEGFLOW_DATA_DIR: %w", err)
	}
	policies, err := openPolicyStore(filepath.Join(cfg.DataDir, "mergepolicies"), now)
	if err != nil {
		return nil, fmt.Errorf("opening the merge policies in SEGFLOW_DATA_DIR: %w", err)
	}
	store := newProfileStore()
	store.columnBudget = cfg.ColumnCacheMB << 20
	segments, err := openDefinitionStore(filepath.Join(cfg.DataDir, "segments"), now, policies, store.schema)
	if err != nil {
		return nil, fmt.Errorf("opening the segment definitions in SEGFLOW_DATA_DIR: %w", err)
	}
	ing, err := openIngester(filepath.Join(cfg.DataDir, "ingest"), cat, store, opts.Logger, cfg.SnapshotRecords)
	if err != nil {
		return nil, fmt.Errorf("rebuilding the profile store from SEGFLOW_DATA_DIR: %w", err)
	}
	jobStore, err := openSegmentJobStore(filepath.Join(cfg.DataDir, "segmentjobs"), now)
	if err != nil {
		ing.close()
		return nil, fmt.Errorf("opening the segment jobs in SEGFLOW_DATA_DIR: %w", err)
	}
	members := newMemberships()
	segJobs, err := newSegmentJobs(membersDir(cfg.DataDir), jobStore, segments, policies, store, members, opts.Logger, now)
	if err != nil {
		ing.close()
		return nil, fmt.Errorf("opening segmentation state in SEGFLOW_DATA_DIR: %w", err)
	}
	m, err := newHTTPMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	exports, err := openExporter(cfg.DataDir, cat, policies, store, members, filepath.Join(cfg.DataDir, "ingest", "commits.log"), opts.Logger, now)
	if err != nil {
		segJobs.close()
		ing.close()
		return nil, fmt.Errorf("opening the export jobs in SEGFLOW_DATA_DIR: %w", err)
	}
	s := &Server{
		cfg:      cfg,
		log:      opts.Logger,
		now:      now,
		tokens:   &tokenIssuer{key: key, ttl: cfg.TokenTTL, now: now, clients: byID},
		catalog:  cat,
		exports:  exports,
		policies: policies,
		segments: segments,
		store:    store,
		members:  members,
		segJobs:  segJobs,
		ingest:   ing,
		mux:      http.NewServeMux(),
		metrics:  m,
	}
	s.previews = newPreviews(s.store, s.members, now, opts.Logger)
	s.routes(opts.Gatherer)
	s.handler = s.instrument(s.mux)
	if cfg.SampleProfiles > 0 {
		if err := s.loadSample(context.Background(), cfg.SampleProfiles); err != nil {
			s.Close()
			return nil, fmt.Errorf("loading the sample data set: %w", err)
		}
	}
	return s, nil
}

// routes registers every endpoint. API routes go through the gateway.
func (s *Server) routes(g prometheus.Gatherer) {
	s.mux.HandleFunc("POST /ims/token/v3", s.handleToken)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	if g != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	}
	api := func(pattern string, h http.HandlerFunc) { s.mux.Handle(pattern, s.gateway(h)) }
	s.catalogRoutes(api)
	s.exportRoutes(api)
	s.dataAccessRoutes(api)
	s.mergePolicyRoutes(api)
	s.segmentDefinitionRoutes(api)
	s.segmentJobRoutes(api)
	s.previewRoutes(api)
	s.ingestRoutes(api)
	s.mux.Handle("/", s.gateway(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		catalogError(w, http.StatusNotFound, titleNotFound, fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})))
}

// Close stops background work (batch processing). A batch in hand is
// finished; queued ones resume at the next start. Close may be called
// more than once.
func (s *Server) Close() {
	s.previews.close()
	s.segJobs.close()
	s.exports.close()
	s.ingest.close()
}

// Handler returns the HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// Run serves on cfg.Addr until ctx is done, then shuts down gracefully.
// ready, if not nil, receives the bound address once listening.
func (s *Server) Run(ctx context.Context, ready chan<- string) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on SEGFLOW_UPS_ADDR %s: %w", s.cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	s.log.Info().Str("addr", ln.Addr().String()).Str("data_dir", s.cfg.DataDir).Msg("ups listening")
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	s.Close()
	s.log.Info().Msg("ups stopped")
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// httpMetrics are the server-side request metrics.
type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) (*httpMetrics, error) {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segflow_ups_http_requests_total",
			Help: "HTTP requests served by ups, by route and status class.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segflow_ups_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"route"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering ups metrics: %w", err)
		}
	}
	return m, nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// instrument counts requests by route pattern (bounded, never an id) and
// turns a panic into a 500 in the Platform's shape.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error().Interface("panic", v).Str("method", r.Method).Str("path", r.URL.Path).Msg("handler panicked")
				if rec.status == 0 {
					catalogError(rec, http.StatusInternalServerError, titleInternal, "internal error")
				}
			}
			route := r.Pattern
			if route == "" || route == "/" {
				route = "other"
			}
			s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.status/100)+"xx").Inc()
			s.metrics.duration.WithLabelValues(route).Observe(s.now().Sub(start).Seconds())
		}()
		next.ServeHTTP(rec, r)
	})
}
