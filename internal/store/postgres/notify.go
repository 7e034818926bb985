package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/jackc/pgx/v5"
)

// MaxNotifyPayload is the largest payload Notify sends: PostgreSQL
// refuses payloads of 8,000 bytes or more.
const MaxNotifyPayload = 7900

// listenRetry is how long Listen waits before connecting again.
const listenRetry = 2 * time.Second

// channelName is the store's own channel for name: channels are per
// database, so the name of the store's schema is added, and the whole
// hashed when it would pass PostgreSQL's 63 bytes.
func (db *DB) channelName(name string) string {
	c := name + "_" + db.schema
	if len(c) > 63 {
		sum := sha256.Sum256([]byte(c))
		c = name[:min(len(name), 30)] + "_" + hex.EncodeToString(sum[:16])
	}
	return c
}

// Notify sends payload (at most MaxNotifyPayload bytes of text) to every
// Listen on the channel of this store, once the call returns.
func (db *DB) Notify(ctx context.Context, channel string, payload []byte) error {
	_, err := db.w.Exec(ctx, "SELECT pg_notify($1, $2)", db.channelName(channel), string(payload))
	return err
}

// MaxPayload is the largest payload Notify sends.
func (db *DB) MaxPayload() int { return MaxNotifyPayload }

// Listen hands deliver each payload notified on the channel of this store
// until ctx is done, on a connection of its own; after a failure it
// connects again every two seconds. state is called with nil once it
// listens and with the error when it stops listening. Notifications sent
// while it was not listening are lost (the caller follows the store
// otherwise).
func (db *DB) Listen(ctx context.Context, channel string, deliver func(payload []byte), state func(error)) error {
	name := db.channelName(channel)
	for {
		err := db.listen(ctx, name, deliver, state)
		if ctx.Err() != nil {
			state(ctx.Err())
			return nil
		}
		state(err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(listenRetry):
		}
	}
}

func (db *DB) listen(ctx context.Context, name string, deliver func([]byte), state func(error)) error {
	pc, err := db.w.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection leaves the pool: it stays listening.
	conn := pc.Hijack()
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{name}.Sanitize()); err != nil {
		return err
	}
	state(nil)
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		deliver([]byte(n.Payload))
	}
}
