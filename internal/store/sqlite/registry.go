package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/tailorhq/tailor/internal/store"
)

const modelColumns = `id, slot, model, params, data_until, metrics, protocol, bytes, created_at, active, scrubbed_at`

func scanModel(sc interface{ Scan(...any) error }) (store.ModelVersion, error) {
	var (
		v               store.ModelVersion
		params, metrics sql.NullString
		until, created  int64
		active          int
		scrubbed        int64
	)
	if err := sc.Scan(&v.ID, &v.Slot, &v.Model, &params, &until, &metrics, &v.Protocol, &v.Bytes, &created, &active, &scrubbed); err != nil {
		return v, err
	}
	if params.Valid {
		v.Params = json.RawMessage(params.String)
	}
	if metrics.Valid {
		if err := json.Unmarshal([]byte(metrics.String), &v.Metrics); err != nil {
			return v, fmt.Errorf("model %s: metrics: %w", v.ID, err)
		}
	}
	v.DataUntil, v.CreatedAt, v.Active = fromNanos(until), fromNanos(created), active == 1
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
	var params, metrics any
	if len(v.Params) > 0 {
		params = string(v.Params)
	}
	if v.Metrics != nil {
		b, err := json.Marshal(v.Metrics)
		if err != nil {
			return fmt.Errorf("save model %s: metrics: %w", v.ID, err)
		}
		metrics = string(b)
	}
	if v.CreatedAt.IsZero() {
		v.CreatedAt = time.Now()
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("save model %s: %w", v.ID, err)
	}
	var scrubbed int64
	if !v.ScrubbedAt.IsZero() {
		scrubbed = toNanos(v.ScrubbedAt)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO models (`+modelColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)`,
		v.ID, v.Slot, v.Model, params, toNanos(v.DataUntil), metrics, v.Protocol, int64(len(artifact)), toNanos(v.CreatedAt), scrubbed)
	if err == nil {
		err = writeChunks(ctx, tx, v.ID, artifact)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		rollback(tx)
	}
	if err != nil {
		return fmt.Errorf("save model %s: %w", v.ID, err)
	}
	return nil
}

// ModelVersions lists a slot's versions ("" for all), newest first.
func (db *DB) ModelVersions(ctx context.Context, slot string) ([]store.ModelVersion, error) {
	q := `SELECT ` + modelColumns + ` FROM models`
	var args []any
	if slot != "" {
		q += ` WHERE slot = ?`
		args = append(args, slot)
	}
	rows, err := db.r.QueryContext(ctx, q+` ORDER BY id DESC`, args...)
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
	v, err := scanModel(db.r.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
	}
	return v, err
}

// ModelArtifact returns a version's artifact, read chunk by chunk into
// one slice of its size.
func (db *DB) ModelArtifact(ctx context.Context, id string) ([]byte, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT m.bytes, c.data FROM models m LEFT JOIN model_chunks c ON c.model_id = m.id
		WHERE m.id = ? ORDER BY c.seq`, id)
	if err != nil {
		return nil, fmt.Errorf("model version %s: read the artifact: %w", id, err)
	}
	defer rows.Close()
	var (
		b     []byte
		size  int64
		found bool
	)
	for rows.Next() {
		var chunk sql.RawBytes // SQLite's copy, valid until the next row: appended at once
		if err := rows.Scan(&size, &chunk); err != nil {
			return nil, fmt.Errorf("model version %s: read the artifact: %w", id, err)
		}
		if !found {
			found, b = true, make([]byte, 0, size)
		}
		b = append(b, chunk...)
	}
	if err := rows.Err(); err != nil {
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
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("activate model %s: %w", id, err)
	}
	var slot string
	if err := tx.QueryRowContext(ctx, `SELECT slot FROM models WHERE id = ?`, id).Scan(&slot); err != nil {
		rollback(tx)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
		}
		return fmt.Errorf("activate model %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE models SET active = 0 WHERE slot = ? AND active = 1`, slot); err != nil {
		rollback(tx)
		return fmt.Errorf("activate model %s: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE models SET active = 1 WHERE id = ?`, id); err != nil {
		rollback(tx)
		return fmt.Errorf("activate model %s: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("activate model %s: %w", id, err)
	}
	return nil
}

// DeleteModel removes an inactive version and its artifact; the artifact's
// bytes are overwritten on disk (secure_delete, then the log truncated).
func (db *DB) DeleteModel(ctx context.Context, id string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete model %s: %w", id, err)
	}
	var (
		slot   string
		active bool
	)
	if err := tx.QueryRowContext(ctx, `SELECT slot, active FROM models WHERE id = ?`, id).Scan(&slot, &active); err != nil {
		rollback(tx)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
		}
		return fmt.Errorf("delete model %s: %w", id, err)
	}
	if active {
		rollback(tx)
		return fmt.Errorf("delete model %s: %w in slot %s: activate another first", id, store.ErrActive, slot)
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM model_chunks WHERE model_id = ?`, id)
	if err == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM models WHERE id = ?`, id)
	}
	if err == nil {
		err = tx.Commit()
	} else {
		rollback(tx)
	}
	if err != nil {
		return fmt.Errorf("delete model %s: %w", id, err)
	}
	db.scrubLog(ctx)
	return nil
}

// ActiveModel returns the slot's active version.
func (db *DB) ActiveModel(ctx context.Context, slot string) (store.ModelVersion, error) {
	v, err := scanModel(db.r.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models WHERE slot = ? AND active = 1`, slot))
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("no active model in slot %q: %w", slot, store.ErrNotFound)
	}
	return v, err
}

// PutScenario creates or replaces a scenario.
func (db *DB) PutScenario(ctx context.Context, name string, rules json.RawMessage) error {
	if name == "" {
		return errors.New("put scenario: the name is empty")
	}
	_, err := db.w.ExecContext(ctx, `INSERT INTO scenarios (name, rules, updated_at) VALUES (?, ?, ?)
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
	err := db.r.QueryRowContext(ctx, `SELECT rules FROM scenarios WHERE name = ?`, name).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("scenario %q: %w", name, store.ErrNotFound)
	}
	return json.RawMessage(s), err
}

// Scenarios returns every scenario.
func (db *DB) Scenarios(ctx context.Context) (map[string]json.RawMessage, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, rules FROM scenarios ORDER BY name`)
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
	res, err := db.w.ExecContext(ctx, `DELETE FROM scenarios WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("delete scenario %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("scenario %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// AddImpressions adds impression counts, in one transaction.
func (db *DB) AddImpressions(ctx context.Context, counts []store.Impressions) error {
	if len(counts) == 0 {
		return nil
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add impressions: %w", err)
	}
	for _, c := range counts {
		_, err := tx.ExecContext(ctx, `INSERT INTO impressions (minute, scenario, version, segment, responses, items) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (minute, scenario, version, segment) DO UPDATE SET responses = responses + excluded.responses, items = items + excluded.items`,
			toNanos(c.Minute.Truncate(time.Minute)), c.Scenario, c.Version, c.Segment, c.Responses, c.Items)
		if err != nil {
			rollback(tx)
			return fmt.Errorf("add impressions: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add impressions: %w", err)
	}
	return nil
}

// ImpressionCounts returns the counts of the minutes in [from, to).
func (db *DB) ImpressionCounts(ctx context.Context, from, to time.Time) ([]store.Impressions, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT minute, scenario, version, segment, responses, items FROM impressions
		WHERE minute >= ? AND minute < ? ORDER BY minute, scenario, version, segment`, toNanos(from), toNanos(to))
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

// writeChunks stores an artifact in model_chunks.
func writeChunks(ctx context.Context, tx *sql.Tx, id string, artifact []byte) error {
	for seq := 0; seq == 0 || seq*artifactChunk < len(artifact); seq++ {
		chunk := artifact[seq*artifactChunk : min(len(artifact), (seq+1)*artifactChunk)]
		if chunk == nil {
			chunk = []byte{} // an empty artifact, not NULL
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO model_chunks (model_id, seq, data) VALUES (?, ?, ?)`, id, seq, chunk); err != nil {
			return err
		}
	}
	return nil
}

// DeletedUsers lists the shoppers deleted after a time, oldest first.
func (db *DB) DeletedUsers(ctx context.Context, after time.Time) ([]store.UserTombstone, error) {
	var since int64
	if !after.IsZero() {
		since = toNanos(after)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id_hash, deleted_at FROM deleted_users WHERE deleted_at > ? ORDER BY deleted_at`, since)
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
// moves its scrubbed_at forward to through, in one transaction; the old
// artifact's bytes are overwritten on disk (secure_delete, then the log
// truncated).
func (db *DB) ScrubModel(ctx context.Context, id string, artifact []byte, through time.Time) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("scrub model %s: %w", id, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE models SET scrubbed_at = max(scrubbed_at, ?) WHERE id = ?`, toNanos(through), id)
	if err == nil {
		if n, _ := res.RowsAffected(); n == 0 {
			rollback(tx)
			return fmt.Errorf("model version %q: %w", id, store.ErrNotFound)
		}
	}
	if err == nil && artifact != nil {
		if _, err = tx.ExecContext(ctx, `DELETE FROM model_chunks WHERE model_id = ?`, id); err == nil {
			if err = writeChunks(ctx, tx, id, artifact); err == nil {
				_, err = tx.ExecContext(ctx, `UPDATE models SET bytes = ? WHERE id = ?`, int64(len(artifact)), id)
			}
		}
	}
	if err == nil {
		err = tx.Commit()
	} else {
		rollback(tx)
	}
	if err != nil {
		return fmt.Errorf("scrub model %s: %w", id, err)
	}
	if artifact != nil {
		db.scrubLog(ctx)
	}
	return nil
}
