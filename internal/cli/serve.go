package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/assistant"
	"github.com/tailorhq/tailor/internal/config"
	"github.com/tailorhq/tailor/internal/fanout"
	"github.com/tailorhq/tailor/internal/hotcache"
	"github.com/tailorhq/tailor/internal/insights"
	"github.com/tailorhq/tailor/internal/llm"
	"github.com/tailorhq/tailor/internal/model/all"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/server"
	"github.com/tailorhq/tailor/internal/sharedlimit"
	"github.com/tailorhq/tailor/internal/store"
	"github.com/tailorhq/tailor/internal/train"
	"github.com/tailorhq/tailor/internal/webui"
	"golang.org/x/sync/errgroup"
)

func newServeCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		dataDir, addr, configPath, storeURL string
		so                                  serveOptions
		modelName, params                   string
	)
	cmd := &cobra.Command{
		Use:   "serve [--data-dir DIR] [--addr HOST:PORT] [--config FILE] [--retrain-every 6h [--model NAME]]",
		Short: "Serve the HTTP API and the recommendations",
		Long: `Serve runs the HTTP API: ingestion, reads, and recommendations from the active
model version of the registry (see 'tailor train'). It follows the registry: a
version activated by another process is loaded within two seconds, and
POST /v1/models/{id}/activate swaps at once. With --retrain-every it also trains a
new version on that schedule and activates it.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(configPath)
			if err != nil {
				return err
			}
			if err := so.checkAnalysesEvery(); err != nil {
				return err
			}
			if so.retrainEvery < 0 {
				return usageError{fmt.Errorf("--retrain-every %s: must not be negative", so.retrainEvery)}
			}
			if so.retrainEvery > 0 && so.retrainEvery < time.Minute {
				return usageError{fmt.Errorf("--retrain-every %s: must be at least 1m", so.retrainEvery)}
			}
			so.train = train.Options{Model: modelName, Params: json.RawMessage(params), Weights: cfgWeights(cfg), Lookup: all.Lookup, Activate: true}
			ctx := cmd.Context()
			db, err := openStoreWith(ctx, storeLocation(storeURL, cfg, dataDir), storeOptions(cfg))
			if err != nil {
				return err
			}
			defer db.Close()
			return serve(ctx, db, cfg, addr, stdout, stderr, so, nil)
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", DefaultDataDir, "folder of the embedded store")
	cmd.Flags().StringVar(&storeURL, "store", "", "a PostgreSQL store (postgres://USER@HOST/DB) instead of the embedded one in --data-dir; TAILOR_STORE and the config's store.url do the same")
	cmd.Flags().StringVar(&addr, "addr", DefaultAddr, "address to listen on")
	cmd.Flags().StringVar(&configPath, "config", "", "configuration file (TOML)")
	cmd.Flags().DurationVar(&so.retrainEvery, "retrain-every", 0, "train and activate a new model version this often (0: never)")
	cmd.Flags().DurationVar(&so.analysesEvery, "analyses-every", 10*time.Minute, "how often the analyses (RFM, lifetime value, propensity, prices) are computed again when the store changed (deletions at once)")
	cmd.Flags().DurationVar(&so.historyTTL, "history-ttl", 30*time.Second, "how long a shopper's history read from the store is reused (events posted to this server refresh it at once)")
	cmd.Flags().StringVar(&modelName, "model", "", "model to retrain (default: what 'tailor train' picks for the data)")
	cmd.Flags().Var(levelFlag{&so.logLevel}, "log-level", "log level: debug (a line per request), info, warn or error")
	cmd.Flags().StringVar(&params, "params", "", "the retrained model's parameters as JSON")
	cmd.Flags().StringVar(&so.webuiDir, "webui-dir", "", "serve the web UI's files from this folder (internal/webui/assets of a checkout) instead of the built-in copy, to edit them without rebuilding")
	return cmd
}

// serveOptions are serve's optional jobs.
type serveOptions struct {
	retrainEvery time.Duration
	train        train.Options
	historyTTL   time.Duration // 0: the engine's default
	// analysesEvery is how often the analyses' snapshot is read again
	// when the store changed (0: every 10 minutes).
	analysesEvery time.Duration
	logLevel      slog.Level
	// webuiDir, if set, serves the web UI's assets from this folder.
	webuiDir string
	// warm, if set, is called once the engine has built its background
	// models (search index, content vectors, session model).
	warm func()
}

// checkAnalysesEvery refuses an --analyses-every under a second.
func (so *serveOptions) checkAnalysesEvery() error {
	if so.analysesEvery < time.Second {
		return usageError{fmt.Errorf("--analyses-every %s: must be at least 1s", so.analysesEvery)}
	}
	return nil
}

// levelFlag parses a log level.
type levelFlag struct{ l *slog.Level }

func (f levelFlag) String() string {
	if f.l == nil {
		return "info"
	}
	return strings.ToLower(f.l.String())
}

func (f levelFlag) Set(s string) error {
	return f.l.UnmarshalText([]byte(s))
}

func (levelFlag) Type() string { return "level" }

// withWebUI mounts the storefront and the dashboard beside the API, unless
// the configuration turns them off. The storefront's key must be a read
// key: every shopper's browser sees it.
func withWebUI(api http.Handler, cfg *config.Config, keys []server.Key, dir string) (http.Handler, error) {
	if cfg.WebUI.Disabled {
		return api, nil
	}
	sk := cfg.WebUI.StorefrontKey
	if sk != "" {
		i := slices.IndexFunc(keys, func(k server.Key) bool { return k.SHA256 == config.HashKey(sk) })
		if i < 0 {
			return nil, fmt.Errorf("webui.storefront_key: not one of the API keys (list its hash with the role read)")
		}
		if keys[i].Role != server.RoleRead {
			return nil, fmt.Errorf("webui.storefront_key: the key %q has the role %s; shoppers' browsers see this key, so it must have the role read", keys[i].Name, keys[i].Role)
		}
	}
	ui, err := webui.Handler(webui.Options{Dir: dir, Demo: len(keys) == 0, StorefrontKey: sk})
	if err != nil {
		return nil, err
	}
	// A plain test on the path, not a second ServeMux in front of the
	// API's: every API request passes through here.
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if webui.Serves(r) {
			ui.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	}), nil
}

// cfgWeights converts the configuration's event weights.
func cfgWeights(cfg *config.Config) map[tailor.EventType]float64 {
	w := map[tailor.EventType]float64{}
	for t, v := range cfg.Events.Weights {
		w[tailor.EventType(t)] = v
	}
	return w
}

// serve runs the API on addr until ctx is done. With no API keys it listens
// on loopback only. ready, if not nil, is called with the bound address
// once the server accepts connections.
func serve(ctx context.Context, db backend, cfg *config.Config, addr string, stdout, stderr io.Writer, so serveOptions, ready func(net.Addr)) error {
	// A server's live heap is mostly models and snapshots that stay:
	// collecting at 35% growth rather than Go's 100% keeps RSS about 100
	// MB lower on Online Retail; the lists allocate little (responses,
	// requests and scratch are pooled), so collections stay fewer than
	// at 50% before that (BENCHMARKS.md). GOGC in the environment wins;
	// the setting is restored when serve returns.
	if _, set := os.LookupEnv("GOGC"); !set {
		defer debug.SetGCPercent(debug.SetGCPercent(35))
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: so.logLevel}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	keys, err := serverKeys(cfg)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr %q: %w", addr, err)}
	}
	if len(keys) == 0 && !isLoopback(host) {
		fmt.Fprintf(stdout, "No API keys are configured, so the API is open to whoever can reach it: listening on 127.0.0.1:%s instead of %s.\n"+
			"Configure keys (see 'tailor keys generate' and README.md) to listen on other addresses.\n", port, addr)
		addr = net.JoinHostPort("127.0.0.1", port)
	} else if len(keys) == 0 {
		fmt.Fprintln(stdout, "No API keys are configured: the API is open, and listens on loopback only.")
	} else if cfg.Auth.TokenSecret == "" {
		fmt.Fprintln(stdout, "Shopper tokens are signed with a random secret: they stop working when the server restarts. Set auth.token_secret (or TAILOR_TOKEN_SECRET) to keep them.")
	}
	rules := cfg.Rules()
	exclude := []tailor.EventType{}
	for _, t := range cfg.Events.ExcludeFromRecommendations {
		exclude = append(exclude, tailor.EventType(t))
	}
	prov, err := llmProvider(cfg, reg)
	if err != nil {
		return err
	}
	emb, queries, note, err := searchEmbedder(cfg, prov, db, reg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, note)
	// With Redis, shoppers' newest events are read through a cache the
	// replicas share, and so are the rankings they compute.
	var (
		src   recommend.Source = db
		cache *hotcache.Cache
	)
	if cfg.Redis.URL != "" {
		if cache, err = hotcache.New(hotcache.Options{URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix, TTL: cmp.Or(so.historyTTL, 30*time.Second),
			RankingTTL: time.Duration(cfg.Redis.RankingTTL), Registerer: reg}); err != nil {
			return fmt.Errorf("redis.url: %w", err)
		}
		defer cache.Close()
		src = cachedSource{Source: db, cache: cache}
	}
	eo := recommend.Options{Weights: cfgWeights(cfg), Exclude: exclude, Lookup: all.Lookup, Logger: log, HistoryTTL: so.historyTTL,
		Registerer: reg, Embedder: emb, QueryEmbedder: queries, LLMRanker: llmRanker(cfg, prov), Sentencer: llmSentencer(cfg, prov)}
	if cache != nil {
		eo.Shared = cache
	}
	eng, err := recommend.New(src, eo)
	if err != nil {
		return err
	}
	if err := eng.Start(ctx); err != nil {
		return err
	}
	if st := eng.Status(); st.Version != nil {
		fmt.Fprintf(stdout, "Serving model version %s (%s, %d items).\n", st.Version.ID, st.Version.Model, st.Items)
	} else {
		fmt.Fprintln(stdout, "No model version is active yet: recommendations answer with trending items until 'tailor train' activates one.")
	}
	// The analyses (RFM, lifetime value, propensity, prices) are read
	// again from the whole store when it changed, every 10 minutes by
	// default (at once after a deletion): a refresh of Online Retail is
	// about 6 s of CPU and 700 MB allocated, which a minute's events do
	// not change. Its garbage is handed back to the system after it.
	analyst := insights.New(db, cmp.Or(so.analysesEvery, 10*time.Minute))
	analyst.AfterRefresh = debug.FreeOSMemory
	if err := analyst.Instrument(reg); err != nil {
		return err
	}
	ao := assistant.Options{Shop: eng, Catalog: db, Registerer: reg,
		Profile: func(ctx context.Context, u tailor.UserID) (any, error) { return analyst.Profile(ctx, u) }}
	if prov != nil && cfg.LLM.ChatModel != "" {
		ao.Chat = prov
		fmt.Fprintf(stdout, "The shopping assistant talks with %s at %s.\n", cfg.LLM.ChatModel, cfg.LLM.BaseURL)
	} else {
		fmt.Fprintln(stdout, "The shopping assistant is off (no llm.chat_model): it answers with search and recommendations.")
	}
	asst, err := assistant.New(ao)
	if err != nil {
		return err
	}
	// With NATS, or else through a PostgreSQL store's LISTEN/NOTIFY,
	// what is written or activated through this replica reaches the
	// others at once.
	var (
		rec server.Recommender = eng
		bus *fanout.Bus
	)
	if n, ok := db.(fanout.Notifier); cfg.NATS.URL != "" || ok {
		if bus, err = fanout.New(eng, fanout.Options{URL: cfg.NATS.URL, Notifier: n, Stream: cfg.NATS.Stream, Log: log, Registerer: reg}); err != nil {
			return err
		}
		if cfg.NATS.URL != "" {
			fmt.Fprintf(stdout, "Sharing changes with the other replicas through NATS at %s (stream %s).\n", cfg.NATS.URL, cmp.Or(cfg.NATS.Stream, "TAILOR"))
		} else {
			fmt.Fprintln(stdout, "Sharing changes with the other replicas through the store (PostgreSQL LISTEN/NOTIFY; [nats] url is not set).")
		}
	}
	if bus != nil || cache != nil {
		rec = sharedRecommender{Recommender: eng, bus: bus, cache: cache}
	}
	var (
		limiter server.SharedLimiter
		checks  map[string]func() error
	)
	if cfg.Redis.URL != "" {
		lim, err := sharedlimit.New(sharedlimit.Options{URL: cfg.Redis.URL, Prefix: cfg.Redis.Prefix, Registerer: reg})
		if err != nil {
			return fmt.Errorf("redis.url: %w", err)
		}
		defer lim.Close()
		limiter, checks = lim, map[string]func() error{"redis": lim.Check, "redis_cache": cache.Check}
		fmt.Fprintln(stdout, "The keys' rate limits and the shoppers' newest events are shared with the other replicas through Redis.")
	}
	h, err := server.New(db, server.Options{
		Rules: rules, MaxBodyBytes: cfg.Server.MaxBodyBytes, MaxBatch: cfg.Server.MaxBatch, Keys: keys, Logger: log,
		Recommender: rec, Analyst: analyst, Pricer: analyst, Registerer: reg, Gatherer: reg,
		TokenSecret: []byte(cfg.Auth.TokenSecret), AllowedOrigins: cfg.Auth.AllowedOrigins, Assistant: asst,
		SharedLimiter: limiter, Checks: checks,
	})
	if err != nil {
		return err
	}
	handler, err := withWebUI(h, cfg, keys, so.webuiDir)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(stdout, "Tailor API listening on http://%s (health: /healthz, API description: /openapi.json)\n", ln.Addr())
	if !cfg.WebUI.Disabled {
		fmt.Fprintf(stdout, "Storefront: http://%s/   Admin dashboard: http://%s/admin\n", ln.Addr(), ln.Addr())
	}
	if ready != nil {
		ready(ln.Addr())
	}
	// Two actors: the HTTP server and the store's checkpointer. The first
	// to stop stops the other.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := srv.Serve(server.Listener(ln)); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	})
	g.Go(func() error { return db.Run(gctx) })
	g.Go(func() error { return eng.Run(gctx) })
	g.Go(func() error {
		return analyst.Run(gctx, func(err error) {
			log.Error("refresh the analyses; the last snapshot keeps serving", slog.Any("err", err))
		})
	})
	g.Go(func() error {
		select {
		case <-eng.Warm():
			fmt.Fprintln(stdout, "Background models ready: search index, content vectors, bought together, sessions, buy again.")
			if so.warm != nil {
				so.warm()
			}
		case <-gctx.Done():
			return nil
		}
		// The first builds (models, analyses, prices) ran side by side and
		// took several times the memory that serving keeps; give it back
		// to the system now rather than over minutes.
		select {
		case <-analyst.Ready():
			debug.FreeOSMemory()
		case <-gctx.Done():
		}
		return nil
	})
	if so.retrainEvery > 0 {
		g.Go(func() error { return retrain(gctx, db, rec, so, log) })
	}
	if bus != nil {
		g.Go(func() error { return bus.Run(gctx) })
	}
	g.Go(func() error { return scrubModels(gctx, db, log) })
	if rr, ok := db.(store.ReplicaRegistry); ok {
		g.Go(func() error { return reportReplica(gctx, rr, eng, log) })
	}
	err = g.Wait()
	fmt.Fprintln(stdout, "Tailor stopped.")
	return err
}

// leader is implemented by stores that several serving processes share
// (PostgreSQL): one process at a time leads each job, and another takes it
// over when the leader dies.
type leader interface {
	Lead(ctx context.Context, job string) (bool, error)
}

// job is a background job that one replica at a time runs on a shared
// store (every process runs it on the embedded store).
type job struct {
	name string
	db   backend
	log  *slog.Logger
	was  bool // whether this process led it at the last turn
}

// leads reports whether this process runs the job's turn, and logs when
// it takes or loses the lead.
func (j *job) leads(ctx context.Context) bool {
	l, ok := j.db.(leader)
	if !ok {
		return true
	}
	lead, err := l.Lead(ctx, j.name)
	if err != nil {
		if ctx.Err() == nil {
			j.log.Warn("cannot tell which replica leads "+j.name+"; skipping this turn", slog.Any("err", err))
		}
		lead = false
	}
	if lead != j.was {
		j.was = lead
		if lead {
			j.log.Info("this replica now leads " + j.name)
		} else {
			j.log.Info("another replica leads " + j.name)
		}
	}
	return lead
}

// retrain trains and activates a new version every so.retrainEvery (on a
// shared store, the replica that leads "retrain" does; the others load the
// version it activates from the registry); a failed run is logged and the
// current version keeps serving.
func retrain(ctx context.Context, db backend, eng interface {
	Load(ctx context.Context, id string) error
}, so serveOptions, log *slog.Logger) error {
	lead := job{name: "retrain", db: db, log: log}
	t := time.NewTicker(so.retrainEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if !lead.leads(ctx) {
			continue
		}
		v, err := train.Train(ctx, db, so.train)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Error("scheduled retraining failed; the current version keeps serving", slog.Any("err", err))
			continue
		}
		if err := eng.Load(ctx, v.ID); err != nil {
			log.Error("the retrained version was refused", slog.String("version", v.ID), slog.Any("err", err))
			continue
		}
		log.Info("retrained and activated", slog.String("version", v.ID), slog.String("model", v.Model))
	}
}

// scrubEvery is how often serve looks for deleted shoppers to clear from
// the stored model versions (a query of the tombstones when there are
// none), and scrubGap the least time between two passes that rewrite
// artifacts: a lone deletion is cleared within scrubEvery, a stream of
// them in batches, one pass (a load and save of every version touched)
// per scrubGap at most.
const (
	scrubEvery = 2 * time.Second
	scrubGap   = 30 * time.Second
)

// scrubModels clears the stored model versions of deleted shoppers (by
// this process or another on the same store); a failed run is logged and
// tried again. On a shared store one replica does it.
func scrubModels(ctx context.Context, db backend, log *slog.Logger) error {
	t := time.NewTicker(scrubEvery)
	defer t.Stop()
	var last time.Time // of the last pass that loaded artifacts
	lead := job{name: "scrub", db: db, log: log}
	for {
		if time.Since(last) >= scrubGap && lead.leads(ctx) {
			start := time.Now()
			rep, err := train.Scrub(ctx, db, all.Lookup)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				log.Error("clear the model versions of deleted shoppers; trying again", slog.Any("err", err))
			case rep.Versions > 0:
				// Versions were loaded, whether or not they held anyone.
				last = start
				log.Info("cleared deleted shoppers from model versions", slog.Int("looked_at", rep.Versions), slog.Int("rewritten", rep.Rewritten),
					slog.Int("shoppers", rep.Shoppers), slog.Duration("took", time.Since(start)))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sharedRecommender is the engine with its changes shared with the other
// replicas: through the bus (NATS), and by invalidating the shared cache
// of shoppers' events (Redis). Either may be nil.
type sharedRecommender struct {
	server.Recommender
	bus   *fanout.Bus
	cache *hotcache.Cache
}

func (r sharedRecommender) ItemsChanged(items []tailor.Item) {
	r.Recommender.ItemsChanged(items)
	if r.bus != nil {
		r.bus.Items(items)
	}
}

func (r sharedRecommender) ItemsDeleted(ids ...tailor.ItemID) {
	r.Recommender.ItemsDeleted(ids...)
	if r.bus != nil {
		r.bus.ItemsDeleted(ids...)
	}
}

func (r sharedRecommender) EventsChanged(events []tailor.Event) {
	if r.cache != nil {
		seen := map[tailor.UserID]bool{}
		var users []tailor.UserID
		for i := range events {
			if u := events[i].UserID; u != "" && !seen[u] {
				seen[u] = true
				users = append(users, u)
			}
		}
		// Before the others hear of the events, so that none of them
		// reads the shoppers' old page from the cache.
		r.cache.Invalidate(context.Background(), users...)
	}
	r.Recommender.EventsChanged(events)
	if r.bus != nil {
		r.bus.Events(events)
	}
}

func (r sharedRecommender) UsersChanged(ids ...tailor.UserID) {
	if r.cache != nil {
		r.cache.Invalidate(context.Background(), ids...)
	}
	r.Recommender.UsersChanged(ids...)
	if r.bus != nil {
		r.bus.Users(ids...)
	}
}

func (r sharedRecommender) UsersDeleted(ids ...tailor.UserID) {
	if r.cache != nil {
		r.cache.Invalidate(context.Background(), ids...)
	}
	r.Recommender.UsersDeleted(ids...)
	if r.bus != nil {
		r.bus.UsersDeleted(ids...)
	}
}

func (r sharedRecommender) ScenariosChanged(ctx context.Context) error {
	err := r.Recommender.ScenariosChanged(ctx)
	if r.bus != nil {
		r.bus.Scenarios()
	}
	return err
}

// Load swaps in a version here and has every other replica do so.
func (r sharedRecommender) Load(ctx context.Context, id string) error {
	if err := r.Recommender.Load(ctx, id); err != nil {
		return err
	}
	if r.bus != nil {
		r.bus.Activated(id)
	}
	return nil
}

// cachedSource reads shoppers' newest events (the pages the engine builds
// histories from) through the cache the replicas share.
type cachedSource struct {
	recommend.Source
	cache *hotcache.Cache
}

// Events reads a shopper's first page of events through the cache, and
// any other listing from the store.
func (s cachedSource) Events(ctx context.Context, q store.EventQuery, p store.PageRequest) (store.Page[tailor.Event], error) {
	// Every field of store.EventQuery but UserID is unset.
	onlyUser := q.SessionID == "" && q.ItemID == "" && len(q.Types) == 0 && q.Since.IsZero() && q.Until.IsZero() && !q.Attributed
	if q.UserID == "" || p.Cursor != "" || !onlyUser {
		return s.Source.Events(ctx, q, p)
	}
	return s.cache.Events(ctx, q.UserID, p.Size(), func() (store.Page[tailor.Event], error) { return s.Source.Events(ctx, q, p) })
}

// reportEvery is how often a replica of a shared store reports the
// version it serves; it reports a change within reportPoll.
const (
	reportEvery = 5 * time.Second
	reportPoll  = 250 * time.Millisecond
)

// reportReplica reports, in the registry of a shared store, the version
// this replica serves: at once when it changes, and every reportEvery.
func reportReplica(ctx context.Context, rr store.ReplicaRegistry, eng *recommend.Engine, log *slog.Logger) error {
	host, _ := os.Hostname()
	id := fmt.Sprintf("%s-%d-%s", cmp.Or(host, "tailor"), os.Getpid(), ulid.Make().String()[20:])
	t := time.NewTicker(reportPoll)
	defer t.Stop()
	var (
		last     store.Replica
		reported time.Time
	)
	for {
		r := store.Replica{ID: id}
		if v := eng.Status().Version; v != nil {
			r.Version = v.ID
		}
		if r.Version != last.Version {
			r.LoadedAt = time.Now()
		} else {
			r.LoadedAt = last.LoadedAt
		}
		if r.Version != last.Version || time.Since(reported) >= reportEvery {
			r.SeenAt = time.Now()
			if err := rr.ReportReplica(ctx, r); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				log.Warn("report this replica's version in the registry", slog.Any("err", err))
			} else {
				last, reported = r, r.SeenAt
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// backend is what serve needs of the store: the API's backend, the model
// scrubber and a background job to run beside the server.
type backend interface {
	server.Backend
	store.Counter
	store.ModelScrubber
	llm.EmbeddingStore
	Run(ctx context.Context) error
}

func serverKeys(cfg *config.Config) ([]server.Key, error) {
	var keys []server.Key
	for _, k := range cfg.Auth.Keys {
		role, err := server.ParseRole(k.Role)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k.Name, err)
		}
		keys = append(keys, server.Key{Name: k.Name, Role: role, SHA256: k.SHA256, RateLimit: k.RateLimit, Burst: k.Burst})
	}
	return keys, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
