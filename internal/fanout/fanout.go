// Package fanout shares what one serving replica learns with every other
// replica of the same shop, through a NATS JetStream stream, or, without
// NATS, through PostgreSQL's LISTEN/NOTIFY on the shop's store: the events,
// items, shoppers and scenarios written through its API (so that every
// replica's caches and live histories follow at once, not after their
// time to live) and the model versions activated through it (so that every
// replica swaps at once, not at its next look at the registry).
//
// The stream is a bus, not a log of record: the store holds every write,
// and a replica that misses messages (NATS down, the replica restarting)
// still follows the store at its usual pace. So publishing never blocks a
// request: a message that cannot be sent is counted and dropped.
package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tailorhq/tailor"
)

// Engine is what the bus tells of other replicas' changes: the local
// recommender's hooks.
type Engine interface {
	ItemsChanged(items []tailor.Item)
	ItemsDeleted(ids ...tailor.ItemID)
	EventsChanged(events []tailor.Event)
	UsersChanged(ids ...tailor.UserID)
	UsersDeleted(ids ...tailor.UserID)
	ScenariosChanged(ctx context.Context) error
	Load(ctx context.Context, id string) error
}

// Notifier carries the bus's messages where there is no NATS: the
// PostgreSQL store's LISTEN/NOTIFY (package postgres). Notify must not
// wait long; Listen runs until ctx is done, connecting again after
// failures, and reports its state (nil: listening).
type Notifier interface {
	Notify(ctx context.Context, channel string, payload []byte) error
	MaxPayload() int
	Listen(ctx context.Context, channel string, deliver func(payload []byte), state func(error)) error
}

// Options configure a Bus.
type Options struct {
	// URL is the NATS server, such as nats://127.0.0.1:4222; when it is
	// empty, Notifier carries the messages instead (one of the two must
	// be set).
	URL      string
	Notifier Notifier
	// Stream names the JetStream stream (default "TAILOR"); every
	// replica of one shop uses the same, and shops sharing a NATS server
	// use one each. Its subject is the name in lower case plus
	// ".changes"; the Notifier's channel is the name in lower case plus
	// "_changes".
	Stream string
	// MaxAge and MaxBytes bound what the stream keeps (defaults 10
	// minutes, 64 MiB): it is a bus, the store keeps the data.
	MaxAge   time.Duration
	MaxBytes int64
	// Log receives what goes wrong; nil discards it.
	Log *slog.Logger
	// Registerer, if set, receives the bus's metrics.
	Registerer prometheus.Registerer
}

// message is what goes on the stream.
type message struct {
	// Origin is the sending replica: it skips its own messages.
	Origin string `json:"o"`
	Kind   string `json:"k"`
	// Events carry only their shopper and item (what the caches need).
	Events  []tailor.Event `json:"events,omitempty"`
	Items   []tailor.Item  `json:"items,omitempty"`
	IDs     []string       `json:"ids,omitempty"`
	Version string         `json:"version,omitempty"`
}

// Message kinds.
const (
	kindEvents       = "events"
	kindItems        = "items"
	kindItemsDeleted = "items_deleted"
	kindUsers        = "users"
	kindUsersDeleted = "users_deleted"
	kindScenarios    = "scenarios"
	kindActivated    = "activated"
)

// chunk is the most records one message carries (NATS refuses messages
// over its max_payload, 1 MiB by default).
const chunk = 500

// Bus publishes this replica's changes and applies the others'.
type Bus struct {
	opts    Options
	origin  string
	subject string
	eng     Engine
	log     *slog.Logger

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream

	// With a Notifier: the messages waiting to be sent, and whether it
	// listens.
	outbox    chan outgoing
	listening atomic.Bool

	published, received, dropped *prometheus.CounterVec
	connected                    prometheus.Gauge
}

// New makes a bus for eng; Run connects it.
func New(eng Engine, opts Options) (*Bus, error) {
	if opts.URL == "" && opts.Notifier == nil {
		return nil, errors.New("fanout: no NATS URL and no store to notify through")
	}
	if opts.Stream == "" {
		opts.Stream = "TAILOR"
	}
	for _, r := range opts.Stream {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return nil, fmt.Errorf("fanout: stream name %q: only letters, digits, _ and -", opts.Stream)
		}
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 10 * time.Minute
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b := &Bus{
		opts: opts, origin: ulid.Make().String(), subject: strings.ToLower(opts.Stream) + ".changes", eng: eng, log: log,
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_fanout_published_total",
			Help: "Changes this replica sent to the other replicas, by kind."}, []string{"kind"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_fanout_received_total",
			Help: "Changes of other replicas applied here, by kind."}, []string{"kind"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tailor_fanout_dropped_total",
			Help: "Changes not sent (NATS unreachable) or not applied (unreadable), by kind; the replicas then follow the store at its own pace."}, []string{"kind"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tailor_fanout_connected",
			Help: "1 while the replica is connected to what shares changes between replicas (the NATS stream, or the store's LISTEN/NOTIFY)."}),
	}
	if opts.URL == "" {
		b.outbox = make(chan outgoing, outboxSize)
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{b.published, b.received, b.dropped, b.connected} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("fanout: metrics: %w", err)
			}
		}
	}
	return b, nil
}

// Connected reports whether the bus is connected to its stream.
func (b *Bus) Connected() bool {
	if b.outbox != nil {
		return b.listening.Load()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.js != nil && b.nc.IsConnected()
}

// retryEvery is how often Run tries again to reach NATS.
const retryEvery = 2 * time.Second

// Run connects to NATS (trying again every retryEvery while it cannot),
// makes the stream if it is missing, and applies the other replicas'
// changes until ctx is done. It returns nil when ctx is done.
func (b *Bus) Run(ctx context.Context) error {
	if b.outbox != nil {
		return b.runNotifier(ctx)
	}
	var (
		cc  jetstream.ConsumeContext
		err error
	)
	for {
		cc, err = b.connect(ctx)
		if err == nil {
			break
		}
		b.log.Warn("cannot reach NATS to share changes with the other replicas; trying again", slog.String("url", b.opts.URL), slog.Any("err", err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryEvery):
		}
	}
	<-ctx.Done()
	cc.Stop()
	b.mu.Lock()
	nc := b.nc
	b.js = nil
	b.mu.Unlock()
	b.connected.Set(0)
	nc.Close()
	return nil
}

// connect connects to NATS and starts consuming the stream from now on.
func (b *Bus) connect(ctx context.Context) (jetstream.ConsumeContext, error) {
	nc, err := nats.Connect(b.opts.URL, nats.Name("tailor "+b.origin), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.connected.Set(0)
			b.log.Warn("disconnected from NATS; replicas follow the store meanwhile", slog.Any("err", err))
		}),
		nats.ReconnectHandler(func(*nats.Conn) {
			b.connected.Set(1)
			b.log.Info("reconnected to NATS")
		}))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err == nil {
		_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
			Name: b.opts.Stream, Subjects: []string{b.subject}, Retention: jetstream.LimitsPolicy,
			MaxAge: b.opts.MaxAge, MaxBytes: b.opts.MaxBytes, Discard: jetstream.DiscardOld, Storage: jetstream.FileStorage,
		})
	}
	var cc jetstream.ConsumeContext
	if err == nil {
		var cons jetstream.Consumer
		cons, err = js.OrderedConsumer(ctx, b.opts.Stream, jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverNewPolicy})
		if err == nil {
			cc, err = cons.Consume(b.apply)
		}
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	b.mu.Lock()
	b.nc, b.js = nc, js
	b.mu.Unlock()
	b.connected.Set(1)
	b.log.Info("sharing changes with the other replicas", slog.String("url", b.opts.URL), slog.String("stream", b.opts.Stream))
	return cc, nil
}

// applyTimeout bounds what applying one message may take (a model
// version's load).
const applyTimeout = 5 * time.Minute

// apply applies another replica's message to the engine.
func (b *Bus) apply(msg jetstream.Msg) { b.applyData(msg.Data()) }

// applyData applies another replica's message, as sent.
func (b *Bus) applyData(data []byte) {
	var m message
	if err := json.Unmarshal(data, &m); err != nil {
		b.dropped.WithLabelValues("unreadable").Inc()
		b.log.Warn("an unreadable message on the stream", slog.Any("err", err))
		return
	}
	if m.Origin == b.origin {
		return
	}
	b.received.WithLabelValues(m.Kind).Inc()
	switch m.Kind {
	case kindEvents:
		b.eng.EventsChanged(m.Events)
	case kindItems:
		b.eng.ItemsChanged(m.Items)
	case kindItemsDeleted:
		ids := make([]tailor.ItemID, len(m.IDs))
		for i, id := range m.IDs {
			ids[i] = tailor.ItemID(id)
		}
		b.eng.ItemsDeleted(ids...)
	case kindUsers, kindUsersDeleted:
		ids := make([]tailor.UserID, len(m.IDs))
		for i, id := range m.IDs {
			ids[i] = tailor.UserID(id)
		}
		if m.Kind == kindUsers {
			b.eng.UsersChanged(ids...)
		} else {
			b.eng.UsersDeleted(ids...)
		}
	case kindScenarios:
		ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
		defer cancel()
		if err := b.eng.ScenariosChanged(ctx); err != nil {
			b.log.Error("read the scenarios another replica changed", slog.Any("err", err))
		}
	case kindActivated:
		ctx, cancel := context.WithTimeout(context.Background(), applyTimeout)
		defer cancel()
		if err := b.eng.Load(ctx, m.Version); err != nil {
			b.log.Error("load the version activated through another replica; the registry is followed meanwhile",
				slog.String("version", m.Version), slog.Any("err", err))
		}
	default:
		b.dropped.WithLabelValues("unknown").Inc()
	}
}

// publish sends a message without waiting for the stream's
// acknowledgement; one that cannot be sent is counted and dropped.
func (b *Bus) publish(m message) {
	m.Origin = b.origin
	data, err := json.Marshal(m)
	if b.outbox != nil && err == nil {
		b.notify(m, data)
		return
	}
	if err == nil {
		b.mu.Lock()
		js := b.js
		b.mu.Unlock()
		if js == nil {
			err = errors.New("not connected")
		} else {
			_, err = js.PublishAsync(b.subject, data)
		}
	}
	if err != nil {
		b.dropped.WithLabelValues(m.Kind).Inc()
		return
	}
	b.published.WithLabelValues(m.Kind).Inc()
}

// Events shares events written through this replica.
func (b *Bus) Events(events []tailor.Event) {
	for lo := 0; lo < len(events); lo += 4 * chunk {
		part := events[lo:min(lo+4*chunk, len(events))]
		slim := make([]tailor.Event, len(part))
		for i := range part {
			slim[i] = tailor.Event{UserID: part[i].UserID, ItemID: part[i].ItemID}
		}
		b.publish(message{Kind: kindEvents, Events: slim})
	}
}

// Items shares items written through this replica.
func (b *Bus) Items(items []tailor.Item) {
	for lo := 0; lo < len(items); lo += chunk {
		b.publish(message{Kind: kindItems, Items: items[lo:min(lo+chunk, len(items))]})
	}
}

// ItemsDeleted shares items deleted through this replica.
func (b *Bus) ItemsDeleted(ids ...tailor.ItemID) {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	b.publishIDs(kindItemsDeleted, s)
}

// Users shares shoppers written through this replica.
func (b *Bus) Users(ids ...tailor.UserID) { b.publishIDs(kindUsers, userIDs(ids)) }

// UsersDeleted shares shoppers deleted through this replica.
func (b *Bus) UsersDeleted(ids ...tailor.UserID) { b.publishIDs(kindUsersDeleted, userIDs(ids)) }

// Scenarios tells the other replicas that the scenarios changed.
func (b *Bus) Scenarios() { b.publish(message{Kind: kindScenarios}) }

// Activated tells the other replicas to load a model version.
func (b *Bus) Activated(version string) { b.publish(message{Kind: kindActivated, Version: version}) }

func (b *Bus) publishIDs(kind string, ids []string) {
	for lo := 0; lo < len(ids); lo += 4 * chunk {
		b.publish(message{Kind: kind, IDs: ids[lo:min(lo+4*chunk, len(ids))]})
	}
}

func userIDs(ids []tailor.UserID) []string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return s
}
