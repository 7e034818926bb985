package sqlite

// migrations are applied in order; PRAGMA user_version holds how many have
// run. Append only: never edit a migration that has shipped.
//
// Times are stored as INTEGER Unix nanoseconds (UTC), ids as TEXT, lists and
// maps as JSON TEXT. Empty optional ids are stored as NULL so that partial
// indexes stay small. The same SQL runs on PostgreSQL with BIGINT/DOUBLE
// PRECISION types and $n placeholders.
var migrations = []string{
	`
CREATE TABLE items (
	id          TEXT PRIMARY KEY,
	title       TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	categories  TEXT,
	brand       TEXT NOT NULL DEFAULT '',
	price       REAL,
	currency    TEXT NOT NULL DEFAULT '',
	in_stock    INTEGER,
	stock       INTEGER,
	attributes  TEXT,
	hidden      INTEGER NOT NULL DEFAULT 0,
	non_product INTEGER NOT NULL DEFAULT 0,
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);
CREATE TABLE users (
	id         TEXT PRIMARY KEY,
	attributes TEXT,
	created_at INTEGER NOT NULL
);
CREATE TABLE events (
	seq               INTEGER PRIMARY KEY,
	id                TEXT NOT NULL UNIQUE,
	user_id           TEXT,
	session_id        TEXT,
	item_id           TEXT NOT NULL,
	type              TEXT NOT NULL,
	value             REAL,
	unit_price        REAL,
	order_id          TEXT,
	recommendation_id TEXT,
	ts                INTEGER NOT NULL
);
CREATE INDEX events_user_ts ON events (user_id, ts) WHERE user_id IS NOT NULL;
CREATE INDEX events_session_ts ON events (session_id, ts) WHERE session_id IS NOT NULL;
CREATE INDEX events_item_ts ON events (item_id, ts);
CREATE INDEX events_ts ON events (ts);
`,
}
