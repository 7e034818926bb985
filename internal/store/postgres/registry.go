package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/tailorhq/tailor/internal/store"
)

const modelColumns = `id, slot, model, params, data_until, metrics, protocol, bytes, created_at, active, scrubbed_at`

func scanModel(sc pgx.Row) (store.ModelVersion, error) {
	var (
		v                        store.ModelVersion
		params, metrics          *string
		until, created, scrubbed int64
	)
	if err := sc.Scan(&v.ID, &v.Slot, &v.Model, &params, &until, &metrics, &v.Protocol, &v.Bytes, &created, &v.Active, &scrubbed); err != nil {
		return v, err
	}
	if params != nil {
		v.Params = json.RawMessage(*params)
	}
	if metrics != nil {
		if err := json.Unmarshal([]byte(*metrics), &v.Metrics); err != nil {
			return v, fmt.Errorf("model %s: metrics: %w", v.ID, err)
		}
	}
	v.DataUntil, v.CreatedAt = fromNanos(until), fromNanos(created)
	if scrubbed != 0 {
		v.ScrubbedAt = fromNanos(scrubbed)
	}
	return v, nil
}

// SaveModel stores a new, inactive model version with its artifact.
func (db *DB) SaveModel(ctx context.Context, v store.ModelVersion, artifact []byte) error {
	if v.ID == "" || v.Slot == "" || v.Model == "" {
		return errors.New("save model: id, slot and model are required")
	}
	var params, metrics *string
	if len(v.Params) > 0 {
		s := string(v.Params)
		params = &s
	}
	if v.Metrics != nil {
		b, err := json.Marshal(v.Metrics)
		if err != nil {
			return fmt.Errorf("save model %s: metrics: %w", v.ID, err)
		}
		s := string(b)
		metrics = &s
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now()
	}
	var scrubbed int64
	if !v.ScrubbedAt.IsZero() {
		scrubbed = toNanos(v.ScrubbedAt)
	}
	err := pgx.BeginFunc(ctx, db.w, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO models (`+modelColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, false, $10)`,
			v.ID, v.Slot, v.Model, params, toNanos(v.DataUntil), metrics, v.Protocol, int64(len(artifact)), toNanos(v.CreatedAt), scrubbed)
		if err != nil {
			return err
		}
		return writeChunks(ctx, tx, v.ID, artifact)
	})
	if err != nil {
		return fmt.Errorf("save model %s: %w", v.ID, err)
	}
	return nil
}

// writeChunks stores an artifact in model_chunks.
func writeChunks(ctx context.Context, tx pgx.Tx, id string, artifact []byte) error {
	b := &pgx.Batch{}
	for seq := 0; seq == 0 || seq*artifactChunk < len(artifact); seq++ {
		chunk := artifact[seq*artifactChunk : min(len(artifact), (seq+1)*artifactChunk)]
		if chunk == nil {
			chunk = []byte{} // an empty artifact, not NULL
		}
		b.Queue(`INSERT INTO model_chunks (model_id, seq, data) VALUES ($1, $2, $3)`, id, seq, chunk)
	}
	return tx.SendBatch(ctx, b).Close()
}

// ModelVersions lists a slot's versions ("" for all), newest first.
func (db *DB) ModelVersions(ctx context.Context, slot string) ([]store.ModelVersion, error) {
	rows, err := db.w.Query(ctx, `SELECT `+modelColumns+` FROM models WHERE $1 = '' OR slot = $1 ORDER BY id DESC`, slot)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	defer rows.Close()
	var out []store.ModelVersion
	for rows.Next() {
		v, err := scanModel(rows)
		if err != nil {
			return nil, fmt.Errorf("list models: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ModelVersion returns one version.
func (db *DB) ModelVersion(ctx context.Context, id string) (store.ModelVersion, error) {
	v, err := scanModel(db.w.QueryRow(ctx, `SELECT `+modelColumns+` FROM models WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
	}
	return v, err
}

// ModelArtifact returns a version's artifact, read chunk by chunk into
// one slice of its size, from one snapshot.
func (db *DB) ModelArtifact(ctx context.Context, id string) ([]byte, error) {
	var (
		b     []byte
		size  int64
		found bool
	)
	err := pgx.BeginTxFunc(ctx, db.w, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT bytes FROM models WHERE id = $1`, id).Scan(&size); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			return err
		}
		found, b = true, make([]byte, 0, size)
		rows, err := tx.Query(ctx, `SELECT data FROM model_chunks WHERE model_id = $1 ORDER BY seq`, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			b = append(b, rows.RawValues()[0]...) // pgx's buffer, valid until the next row: appended at once
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("model version %s: read the artifact: %w", id, err)
	}
	if !found {
		return nil, fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("model version %s: the artifact has %d bytes where the registry says %d", id, len(b), size)
	}
	return b, nil
}

// ActivateModel makes the version its slot's only active one, in one
// transaction.
func (db *DB) ActivateModel(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, db.w, func(tx pgx.Tx) error {
		var slot string
		if err := tx.QueryRow(ctx, `SELECT slot FROM models WHERE id = $1 FOR UPDATE`, id).Scan(&slot); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
			}
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE models SET active = false WHERE slot = $1 AND active`, slot); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE models SET active = true WHERE id = $1`, id)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("activate model %s: %w", id, err)
	}
	return err
}

// DeleteModel removes an inactive version and its artifact.
func (db *DB) DeleteModel(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, db.w, func(tx pgx.Tx) error {
		var (
			slot   string
			active bool
		)
		if err := tx.QueryRow(ctx, `SELECT slot, active FROM models WHERE id = $1 FOR UPDATE`, id).Scan(&slot, &active); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
			}
			return err
		}
		if active {
			return fmt.Errorf("%w in slot %s: activate another first", store.ErrActive, slot)
		}
		_, err := tx.Exec(ctx, `DELETE FROM models WHERE id = $1`, id) // its chunks cascade
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete model %s: %w", id, err)
	}
	return err
}

// ActiveModel returns the slot's active version.
func (db *DB) ActiveModel(ctx context.Context, slot string) (store.ModelVersion, error) {
	v, err := scanModel(db.w.QueryRow(ctx, `SELECT `+modelColumns+` FROM models WHERE slot = $1 AND active`, slot))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("no active model in slot %q: %w", slot, store.ErrNotFound)
	}
	return v, err
}

// DeletedUsers lists the shoppers deleted after a time, oldest first.
func (db *DB) DeletedUsers(ctx context.Context, after time.Time) ([]store.UserTombstone, error) {
	var since int64
	if !after.IsZero() {
		since = toNanos(after)
	}
	rows, err := db.w.Query(ctx, `SELECT id_hash, deleted_at FROM deleted_users WHERE deleted_at > $1 ORDER BY deleted_at`, since)
	if err != nil {
		return nil, fmt.Errorf("list deleted shoppers: %w", err)
	}
	defer rows.Close()
	var out []store.UserTombstone
	for rows.Next() {
		var (
			h  []byte
			at int64
			t  store.UserTombstone
		)
		if err := rows.Scan(&h, &at); err != nil {
			return nil, fmt.Errorf("list deleted shoppers: %w", err)
		}
		if len(h) != len(t.IDHash) {
			return nil, fmt.Errorf("list deleted shoppers: a tombstone of %d bytes", len(h))
		}
		copy(t.IDHash[:], h)
		t.DeletedAt = fromNanos(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// ScrubModel replaces a version's artifact (unless artifact is nil) and
// moves its scrubbed_at forward to through, in one transaction. The old
// rows are gone for every reader at once; PostgreSQL reuses their space
// after a vacuum (see the README on erasure).
func (db *DB) ScrubModel(ctx context.Context, id string, artifact []byte, through time.Time) error {
	err := pgx.BeginFunc(ctx, db.w, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE models SET scrubbed_at = greatest(scrubbed_at, $1) WHERE id = $2`, toNanos(through), id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
		}
		if artifact == nil {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM model_chunks WHERE model_id = $1`, id); err != nil {
			return err
		}
		if err := writeChunks(ctx, tx, id, artifact); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE models SET bytes = $1 WHERE id = $2`, int64(len(artifact)), id)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("scrub model %s: %w", id, err)
	}
	return err
}

// PutScenario creates or replaces a scenario.
func (db *DB) PutScenario(ctx context.Context, name string, rules json.RawMessage) error {
	if name == "" {
		return errors.New("put scenario: the name is empty")
	}
	if err := checkText("name", name); err != nil {
		return fmt.Errorf("put scenario: %w", err)
	}
	_, err := db.w.Exec(ctx, `INSERT INTO scenarios (name, rules, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO UPDATE SET rules = excluded.rules, updated_at = excluded.updated_at`,
		name, string(rules), toNanos(time.Now()))
	if err != nil {
		return fmt.Errorf("put scenario %s: %w", name, err)
	}
	return nil
}

// Scenario returns a scenario's rules.
func (db *DB) Scenario(ctx context.Context, name string) (json.RawMessage, error) {
	var s string
	err := db.w.QueryRow(ctx, `SELECT rules FROM scenarios WHERE name = $1`, name).Scan(&s)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("scenario %q: %w", name, store.ErrNotFound)
	}
	return json.RawMessage(s), err
}

// Scenarios returns every scenario.
func (db *DB) Scenarios(ctx context.Context) (map[string]json.RawMessage, error) {
	rows, err := db.w.Query(ctx, `SELECT name, rules FROM scenarios ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list scenarios: %w", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var name, rules string
		if err := rows.Scan(&name, &rules); err != nil {
			return nil, fmt.Errorf("list scenarios: %w", err)
		}
		out[name] = json.RawMessage(rules)
	}
	return out, rows.Err()
}

// DeleteScenario removes a scenario.
func (db *DB) DeleteScenario(ctx context.Context, name string) error {
	tag, err := db.w.Exec(ctx, `DELETE FROM scenarios WHERE name = $1`, name)
	if err != nil {
		return fmt.Errorf("delete scenario %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("scenario %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// AddImpressions adds impression counts, in one transaction.
func (db *DB) AddImpressions(ctx context.Context, counts []store.Impressions) error {
	if len(counts) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, c := range counts {
		b.Queue(`INSERT INTO impressions (minute, scenario, version, segment, responses, items) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (minute, scenario, version, segment) DO UPDATE
			SET responses = impressions.responses + excluded.responses, items = impressions.items + excluded.items`,
			toNanos(c.Minute.Truncate(time.Minute)), c.Scenario, c.Version, c.Segment, c.Responses, c.Items)
	}
	err := pgx.BeginFunc(ctx, db.w, func(tx pgx.Tx) error { return tx.SendBatch(ctx, b).Close() })
	if err != nil {
		return fmt.Errorf("add impressions: %w", err)
	}
	return nil
}

// ImpressionCounts returns the counts of the minutes in [from, to).
func (db *DB) ImpressionCounts(ctx context.Context, from, to time.Time) ([]store.Impressions, error) {
	rows, err := db.w.Query(ctx, `SELECT minute, scenario, version, segment, responses, items FROM impressions
		WHERE minute >= $1 AND minute < $2 ORDER BY minute, scenario, version, segment`, toNanos(from), toNanos(to))
	if err != nil {
		return nil, fmt.Errorf("read impressions: %w", err)
	}
	defer rows.Close()
	var out []store.Impressions
	for rows.Next() {
		var (
			c      store.Impressions
			minute int64
		)
		if err := rows.Scan(&minute, &c.Scenario, &c.Version, &c.Segment, &c.Responses, &c.Items); err != nil {
			return nil, fmt.Errorf("read impressions: %w", err)
		}
		c.Minute = fromNanos(minute)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ReportReplica records a replica's report, and forgets replicas not
// seen for a day.
func (db *DB) ReportReplica(ctx context.Context, r store.Replica) error {
	if r.ID == "" {
		return errors.New("report replica: the id is empty")
	}
	if r.SeenAt.IsZero() {
		r.SeenAt = time.Now()
	}
	var loaded int64
	if !r.LoadedAt.IsZero() {
		loaded = toNanos(r.LoadedAt)
	}
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO replicas (id, version, loaded_at, seen_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, loaded_at = excluded.loaded_at, seen_at = excluded.seen_at`,
		r.ID, r.Version, loaded, toNanos(r.SeenAt))
	b.Queue(`DELETE FROM replicas WHERE seen_at < $1`, toNanos(r.SeenAt.Add(-24*time.Hour)))
	if err := db.w.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("report replica %s: %w", r.ID, err)
	}
	return nil
}

// Replicas lists the replicas seen since a time, by id.
func (db *DB) Replicas(ctx context.Context, since time.Time) ([]store.Replica, error) {
	rows, err := db.w.Query(ctx, `SELECT id, version, loaded_at, seen_at FROM replicas WHERE seen_at >= $1 ORDER BY id`, toNanos(since))
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Replica, error) {
		var (
			r              store.Replica
			loaded, seenAt int64
		)
		err := row.Scan(&r.ID, &r.Version, &loaded, &seenAt)
		if loaded != 0 {
			r.LoadedAt = fromNanos(loaded)
		}
		r.SeenAt = fromNanos(seenAt)
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

var _ store.ReplicaRegistry = (*DB)(nil)
