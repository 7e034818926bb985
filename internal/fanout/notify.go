package fanout

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// outgoing is a message waiting to be notified.
type outgoing struct {
	kind string
	data []byte
}

// outboxSize is how many messages wait to be notified before more are
// dropped (counted).
const outboxSize = 1024

// notifyTimeout bounds one notification.
const notifyTimeout = 2 * time.Second

// channel is the Notifier's channel of the bus's stream.
func (b *Bus) channel() string { return strings.ToLower(b.opts.Stream) + "_changes" }

// notify queues a message for the Notifier, halved until each part fits
// its payload; a single record too large for it (an item with a long
// description) is dropped and counted: the replicas read it from the
// store at their next refresh.
func (b *Bus) notify(m message, data []byte) {
	if len(data) <= b.opts.Notifier.MaxPayload() {
		select {
		case b.outbox <- outgoing{kind: m.Kind, data: data}:
		default:
			b.dropped.WithLabelValues(m.Kind).Inc()
		}
		return
	}
	lo, hi := m, m
	switch n := max(len(m.Events), len(m.Items), len(m.IDs)); {
	case n < 2:
		b.dropped.WithLabelValues("too_large").Inc()
		return
	case len(m.Events) > 1:
		lo.Events, hi.Events = m.Events[:n/2], m.Events[n/2:]
	case len(m.Items) > 1:
		lo.Items, hi.Items = m.Items[:n/2], m.Items[n/2:]
	default:
		lo.IDs, hi.IDs = m.IDs[:n/2], m.IDs[n/2:]
	}
	b.publish(lo)
	b.publish(hi)
}

// runNotifier sends the queued messages and applies those of the other
// replicas until ctx is done.
func (b *Bus) runNotifier(ctx context.Context) error {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case out := <-b.outbox:
				nctx, cancel := context.WithTimeout(ctx, notifyTimeout)
				err := b.opts.Notifier.Notify(nctx, b.channel(), out.data)
				cancel()
				if err != nil {
					b.dropped.WithLabelValues(out.kind).Inc()
					continue
				}
				b.published.WithLabelValues(out.kind).Inc()
			}
		}
	}()
	b.log.Info("sharing changes with the other replicas through the store (LISTEN/NOTIFY)", slog.String("channel", b.channel()))
	return b.opts.Notifier.Listen(ctx, b.channel(), b.applyData, func(err error) {
		was := b.listening.Swap(err == nil)
		switch {
		case err == nil:
			b.connected.Set(1)
		case was && ctx.Err() == nil:
			b.connected.Set(0)
			b.log.Warn("stopped listening to the store for other replicas' changes; replicas follow the store meanwhile", slog.Any("err", err))
		default:
			b.connected.Set(0)
		}
	})
}
