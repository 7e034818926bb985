package sqlite

// migrations are applied in order; PRAGMA user_version holds how many have
// run. Append only: never edit a migration that has shipped.
//
// The NOT NULL constraints of events say ON CONFLICT FAIL rather than the
// default ABORT: an aborting multi-row INSERT needs a statement journal, a
// copy of every page it touches, which cost a sixth of the ingestion path;
// a failing one needs none. A failure still fails the whole transaction.
//
// Items and users have an integer key (ix) beside their text id; events
// refer to them by it, which keeps event rows and their indexes small.
// Times are INTEGER Unix nanoseconds (UTC), lists and maps JSON TEXT.
// Empty optional ids are NULL so that partial indexes stay small.
var migrations = []string{
	`
CREATE TABLE items (
	ix          INTEGER PRIMARY KEY,
	id          TEXT NOT NULL UNIQUE,
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
	ix         INTEGER PRIMARY KEY,
	id         TEXT NOT NULL UNIQUE,
	attributes TEXT,
	created_at INTEGER NOT NULL
);
CREATE TABLE events (
	seq               INTEGER PRIMARY KEY,
	id                TEXT NOT NULL ON CONFLICT FAIL UNIQUE,
	user_ix           INTEGER,
	session_id        TEXT,
	item_ix           INTEGER NOT NULL ON CONFLICT FAIL,
	type              TEXT NOT NULL ON CONFLICT FAIL,
	value             REAL,
	unit_price        REAL,
	order_id          TEXT,
	recommendation_id TEXT,
	ts                INTEGER NOT NULL ON CONFLICT FAIL
);
` + eventIndexes,
	`
CREATE TABLE models (
	id         TEXT PRIMARY KEY,
	slot       TEXT NOT NULL,
	model      TEXT NOT NULL,
	params     TEXT,
	data_until INTEGER NOT NULL,
	metrics    TEXT,
	protocol   TEXT NOT NULL DEFAULT '',
	bytes      INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	active     INTEGER NOT NULL DEFAULT 0,
	artifact   BLOB NOT NULL
);
CREATE INDEX models_slot ON models (slot, id);
CREATE UNIQUE INDEX models_active ON models (slot) WHERE active = 1;
CREATE TABLE scenarios (
	name       TEXT PRIMARY KEY,
	rules      TEXT NOT NULL,
	updated_at INTEGER NOT NULL
);
`,
	`
CREATE TABLE impressions (
	minute    INTEGER NOT NULL,
	scenario  TEXT NOT NULL,
	version   TEXT NOT NULL,
	responses INTEGER NOT NULL,
	items     INTEGER NOT NULL,
	PRIMARY KEY (minute, scenario, version)
) WITHOUT ROWID;
`,
	`
CREATE TABLE impressions_segmented (
	minute    INTEGER NOT NULL,
	scenario  TEXT NOT NULL,
	version   TEXT NOT NULL,
	segment   TEXT NOT NULL,
	responses INTEGER NOT NULL,
	items     INTEGER NOT NULL,
	PRIMARY KEY (minute, scenario, version, segment)
) WITHOUT ROWID;
INSERT INTO impressions_segmented SELECT minute, scenario, version, '', responses, items FROM impressions;
DROP TABLE impressions;
ALTER TABLE impressions_segmented RENAME TO impressions;
`,
	// Artifacts in chunks of artifactChunk bytes: SQLite reads a column
	// whole into its own heap, and modernc's allocator keeps what it
	// once held, so a 55 MB artifact read as one value left 55 MB
	// resident in the server for good.
	`
CREATE TABLE model_chunks (
	model_id TEXT NOT NULL,
	seq      INTEGER NOT NULL,
	data     BLOB NOT NULL,
	PRIMARY KEY (model_id, seq)
);
WITH RECURSIVE parts(id, seq) AS (
	SELECT id, 0 FROM models
	UNION ALL
	SELECT parts.id, parts.seq + 1 FROM parts JOIN models ON models.id = parts.id
	WHERE (parts.seq + 1) * 1048576 < models.bytes
)
INSERT INTO model_chunks (model_id, seq, data)
SELECT parts.id, parts.seq, coalesce(substr(models.artifact, parts.seq * 1048576 + 1, 1048576), X'')
FROM parts JOIN models ON models.id = parts.id;
ALTER TABLE models DROP COLUMN artifact;
`,
	// The latest report of each kind (an import's cleaning report, an
	// evaluation), for the dashboard.
	`
CREATE TABLE reports (
	kind       TEXT PRIMARY KEY,
	created_at INTEGER NOT NULL,
	body       TEXT NOT NULL
);
`,
	// Tombstones of deleted events (the SHA-256 of each id, not the id):
	// a retried batch that holds them stores nothing again.
	`
CREATE TABLE deleted_events (
	id_hash    BLOB PRIMARY KEY,
	deleted_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX deleted_events_at ON deleted_events (deleted_at);
`,
	// Keys are never reused: a plain INTEGER PRIMARY KEY hands the next
	// row the largest key plus one, so deleting the newest shopper freed
	// their key for the next, and a process (or a retried request) that
	// still held the old mapping wrote onto the new shopper. AUTOINCREMENT
	// needs a new table; the copy keeps every key (sqlite_sequence starts
	// at the largest).
	`
CREATE TABLE items_new (
	ix          INTEGER PRIMARY KEY AUTOINCREMENT,
	id          TEXT NOT NULL UNIQUE,
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
INSERT INTO items_new SELECT ix, id, title, description, categories, brand, price, currency, in_stock, stock, attributes, hidden, non_product, created_at, updated_at FROM items;
DROP TABLE items;
ALTER TABLE items_new RENAME TO items;
CREATE TABLE users_new (
	ix         INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL UNIQUE,
	attributes TEXT,
	created_at INTEGER NOT NULL
);
INSERT INTO users_new SELECT ix, id, attributes, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
`,
	// Tombstones of deleted shoppers (the SHA-256 of the id), so that
	// stored model versions can be cleared of them; each version records
	// when it last was.
	`
CREATE TABLE deleted_users (
	id_hash    BLOB PRIMARY KEY,
	deleted_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX deleted_users_at ON deleted_users (deleted_at);
ALTER TABLE models ADD COLUMN scrubbed_at INTEGER NOT NULL DEFAULT 0;
`,
	// Embeddings of texts by a model (llm.Cached): the SHA-256 of the
	// text, not the text; vectors as little-endian float32.
	`
CREATE TABLE embeddings (
	model     TEXT NOT NULL,
	text_hash BLOB NOT NULL,
	vector    BLOB NOT NULL,
	PRIMARY KEY (model, text_hash)
) WITHOUT ROWID;
`,
}

// artifactChunk is the size of an artifact's chunks in model_chunks (the
// migration that made the table has it as a literal).
const artifactChunk = 1 << 20

// eventIndexes are the secondary indexes of events. The first two grow at
// random places as events arrive (events come roughly in time order, so the
// others grow at their end): a bulk load may drop them (dropEventIndexes)
// and run this again at the end, since building an index from sorted data
// is much faster than growing it row by row.
const eventIndexes = `
CREATE INDEX IF NOT EXISTS events_user_ts ON events (user_ix, ts) WHERE user_ix IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_item_ts ON events (item_ix, ts);
CREATE INDEX IF NOT EXISTS events_session_ts ON events (session_id, ts) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
`

const dropEventIndexes = `
DROP INDEX IF EXISTS events_user_ts;
DROP INDEX IF EXISTS events_item_ts;
`
