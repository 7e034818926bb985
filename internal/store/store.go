// Package store defines the storage contract of Tailor: small interfaces for
// reading and writing items, users and events, the query and page types they
// use, and the errors callers can expect. Backends (sqlite, and later
// postgres) implement it; storetest checks that they do so alike.
//
// All methods of all interfaces are safe for concurrent use.
package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
)

// ErrNotFound is returned when the requested record does not exist.
var ErrNotFound = errors.New("not found")

// ErrBusy is returned by a write when another writer (another process
// importing into the store, say) held it for longer than a write waits;
// the write may be retried.
var ErrBusy = errors.New("the store is busy with another writer")

// ErrBadCursor is returned when a page cursor cannot be decoded.
var ErrBadCursor = errors.New("invalid cursor")

// MaxPageSize is the largest page a list method returns; larger limits are
// capped to it.
const MaxPageSize = 1000

// DefaultPageSize is the page size used when a limit is zero.
const DefaultPageSize = 100

// Writer writes records. A Writer is handed out by Updater.Update and is
// valid only inside that call; it is not safe for concurrent use.
type Writer interface {
	// UpsertItems inserts the items, replacing every field of those that
	// exist. A zero CreatedAt keeps the stored one (or is set to now on
	// insert); a zero UpdatedAt is set to now.
	UpsertItems(ctx context.Context, items []tailor.Item) error
	// UpsertUsers inserts the users, replacing the attributes of those that
	// exist. A zero CreatedAt keeps the stored one (or is set to now).
	UpsertUsers(ctx context.Context, users []tailor.User) error
	// InsertEvents stores the events whose IDs are not stored yet and
	// reports how many were new. Every event must have an ID and a
	// timestamp. Items and users the events refer to that are not stored
	// yet are created with only their id.
	InsertEvents(ctx context.Context, events []tailor.Event) (InsertResult, error)
}

// IndexDeferrer is implemented by Writers that load many events faster by
// building their indexes once, at the end of the transaction. Callers that
// are about to write a large batch detect it with a type assertion.
type IndexDeferrer interface {
	// DeferIndexes says that about rows events are coming. The writer
	// defers index maintenance to the end of the transaction when that is
	// cheaper than keeping the indexes up to date row by row; reads through
	// the same transaction may then be slower.
	DeferIndexes(ctx context.Context, rows int) error
}

// InsertResult counts the outcome of InsertEvents.
type InsertResult struct {
	// Inserted is the number of events stored.
	Inserted int `json:"inserted"`
	// Duplicates is the number of events not stored because an event with
	// the same ID was stored already (or came earlier in the same call).
	Duplicates int `json:"duplicates"`
}

// Updater runs writes atomically.
type Updater interface {
	// Update calls fn with a Writer inside a transaction. If fn returns an
	// error, or ctx is cancelled, nothing fn wrote is kept; otherwise
	// everything is, at once. Backends may run concurrent calls in one
	// transaction and, when one of them fails, run the others again: fn
	// must be safe to call more than once, keeping its results only in
	// variables it sets afresh on each call.
	Update(ctx context.Context, fn func(Writer) error) error
}

// ItemReader reads the catalog.
type ItemReader interface {
	// Item returns the item with the id, or ErrNotFound.
	Item(ctx context.Context, id tailor.ItemID) (tailor.Item, error)
	// Items returns a page of items in id order.
	Items(ctx context.Context, p PageRequest) (Page[tailor.Item], error)
}

// UserReader reads shoppers.
type UserReader interface {
	// User returns the user with the id, or ErrNotFound.
	User(ctx context.Context, id tailor.UserID) (tailor.User, error)
	// Users returns a page of users in id order.
	Users(ctx context.Context, p PageRequest) (Page[tailor.User], error)
}

// EventReader reads behaviour.
type EventReader interface {
	// Events returns a page of the events that match q, newest first
	// (by timestamp, then by insertion order).
	Events(ctx context.Context, q EventQuery, p PageRequest) (Page[tailor.Event], error)
	// ScanEvents calls fn for every event that matches q, oldest first
	// (by timestamp, then by insertion order), stopping at fn's first
	// error, which it returns. It is meant for building training data and
	// reads from one consistent snapshot.
	ScanEvents(ctx context.Context, q EventQuery, fn func(*tailor.Event) error) error
}

// Deleter removes records.
//
// The deleted events leave tombstones for the backend's retention window:
// inserting an event with a deleted event's id again in that time is a
// no-op (counted as a duplicate), so a client's retry of a batch it sent
// before the deletion brings nothing back.
type Deleter interface {
	// DeleteItem removes the item and all its events, or returns
	// ErrNotFound. It reports how many events went with it.
	DeleteItem(ctx context.Context, id tailor.ItemID) (events int, err error)
	// DeleteUser removes the user and all their events, or returns
	// ErrNotFound. It reports how many events went with it.
	DeleteUser(ctx context.Context, id tailor.UserID) (events int, err error)
}

// Counter reports the size of the store.
type Counter interface {
	Counts(ctx context.Context) (Counts, error)
}

// Counts is the number of records of each kind in the store.
type Counts struct {
	Items  int `json:"items"`
	Users  int `json:"users"`
	Events int `json:"events"`
}

// Store is everything a backend provides.
type Store interface {
	Updater
	ItemReader
	UserReader
	EventReader
	Deleter
	Counter
	ModelRegistry
	ModelScrubber
	ScenarioStore
	ImpressionStore
	ReportStore
	Browser
	// Ping checks that the backend can serve requests.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// ModelVersion is one trained model in the registry.
type ModelVersion struct {
	// ID identifies the version (a ULID: sortable by creation).
	ID string `json:"id"`
	// Slot is the recommender slot the version is for ("default" unless
	// a shop runs several); one version per slot is active.
	Slot string `json:"slot"`
	// Model and Params are the model kind and its parameters.
	Model  string          `json:"model"`
	Params json.RawMessage `json:"params,omitempty"`
	// DataUntil is the time of the newest event the version was trained
	// on: the data snapshot.
	DataUntil time.Time `json:"data_until"`
	// Metrics are the holdout measurements, measured under Protocol.
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Protocol string             `json:"protocol,omitempty"`
	// Bytes is the artifact's size.
	Bytes     int64     `json:"bytes"`
	CreatedAt time.Time `json:"created_at"`
	// Active is set on the slot's serving version.
	Active bool `json:"active"`
	// ScrubbedAt is when the artifact was last cleared of deleted
	// shoppers (or when its training began reading the data): no shopper
	// deleted before holds anything in it.
	ScrubbedAt time.Time `json:"scrubbed_at,omitzero"`
}

// UserTombstone is what a store keeps of a deleted shopper for its
// tombstone retention: the SHA-256 of the id, and when it was deleted.
type UserTombstone struct {
	IDHash    [32]byte
	DeletedAt time.Time
}

// ModelScrubber lets stored model versions be cleared of deleted shoppers.
type ModelScrubber interface {
	// DeletedUsers lists the shoppers deleted after a time, oldest first.
	DeletedUsers(ctx context.Context, after time.Time) ([]UserTombstone, error)
	// ScrubModel replaces a version's artifact (unless artifact is nil)
	// and moves its ScrubbedAt to through (never back), in one
	// transaction; the old artifact's bytes are overwritten on disk. It
	// returns ErrNotFound for a version that is not there (deleted
	// meanwhile).
	ScrubModel(ctx context.Context, id string, artifact []byte, through time.Time) error
}

// ModelRegistry keeps trained model versions and which one each slot
// serves.
type ModelRegistry interface {
	// SaveModel stores a new version (v.ID must be new) with its artifact,
	// inactive.
	SaveModel(ctx context.Context, v ModelVersion, artifact []byte) error
	// ModelVersions lists the versions of a slot ("" for all), newest
	// first.
	ModelVersions(ctx context.Context, slot string) ([]ModelVersion, error)
	// ModelVersion returns one version, or ErrNotFound.
	ModelVersion(ctx context.Context, id string) (ModelVersion, error)
	// ModelArtifact returns a version's artifact, or ErrNotFound.
	ModelArtifact(ctx context.Context, id string) ([]byte, error)
	// ActivateModel makes the version its slot's active one, at once.
	ActivateModel(ctx context.Context, id string) error
	// ActiveModel returns the slot's active version, or ErrNotFound.
	ActiveModel(ctx context.Context, slot string) (ModelVersion, error)
	// DeleteModel removes a version and its artifact, or returns
	// ErrNotFound, or ErrActive (wrapped) for its slot's active version.
	DeleteModel(ctx context.Context, id string) error
}

// Replica is what a serving process on a shared store reports of itself:
// the model version it serves, and when it last said so.
type Replica struct {
	// ID names the process (its host and a random part).
	ID string `json:"id"`
	// Version is the version it serves ("" before any), since LoadedAt.
	Version  string    `json:"version"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// SeenAt is its last report.
	SeenAt time.Time `json:"seen_at"`
}

// ReplicaRegistry is implemented by stores that several serving processes
// share: each reports the version it serves, which acknowledges an
// activation in the registry.
type ReplicaRegistry interface {
	// ReportReplica records a replica's report.
	ReportReplica(ctx context.Context, r Replica) error
	// Replicas lists the replicas seen since a time, by id.
	Replicas(ctx context.Context, since time.Time) ([]Replica, error)
}

// ErrActive is wrapped by the error of deleting the version a slot serves.
var ErrActive = errors.New("the version is active")

// ScenarioStore keeps named recommendation scenarios (their rules, as
// JSON the serving layer validated).
type ScenarioStore interface {
	// PutScenario creates or replaces a scenario.
	PutScenario(ctx context.Context, name string, rules json.RawMessage) error
	// Scenario returns a scenario's rules, or ErrNotFound.
	Scenario(ctx context.Context, name string) (json.RawMessage, error)
	// Scenarios returns every scenario by name.
	Scenarios(ctx context.Context) (map[string]json.RawMessage, error)
	// DeleteScenario removes a scenario, or returns ErrNotFound.
	DeleteScenario(ctx context.Context, name string) error
}

// Impressions counts the recommendation responses served for one
// scenario, model version and shopper segment in one minute.
type Impressions struct {
	// Minute is the start of the minute (UTC).
	Minute   time.Time `json:"minute"`
	Scenario string    `json:"scenario"`
	Version  string    `json:"version"`
	// Segment is the shoppers' "segment" attribute ("" for none).
	Segment string `json:"segment"`
	// Responses is the number of lists served and Items the number of
	// items in them.
	Responses int64 `json:"responses"`
	Items     int64 `json:"items"`
}

// ImpressionStore keeps impression counts for online metrics.
type ImpressionStore interface {
	// AddImpressions adds the counts to those stored for the same minute,
	// scenario, version and segment.
	AddImpressions(ctx context.Context, counts []Impressions) error
	// ImpressionCounts returns the counts of the minutes in [from, to).
	ImpressionCounts(ctx context.Context, from, to time.Time) ([]Impressions, error)
}

// Report is the latest report of one kind: an import's cleaning report,
// an evaluation's results. Body is the report as JSON.
type Report struct {
	Kind      string          `json:"kind"`
	CreatedAt time.Time       `json:"created_at"`
	Body      json.RawMessage `json:"body"`
}

// ReportStore keeps the latest report of each kind.
type ReportStore interface {
	// PutReport replaces the report of its kind; Body must be a JSON
	// object.
	PutReport(ctx context.Context, r Report) error
	// Report returns the latest report of the kind, or ErrNotFound.
	Report(ctx context.Context, kind string) (Report, error)
}

// CategoryCount is a category path and how many items it holds, its
// sub-categories' included.
type CategoryCount struct {
	Category string `json:"category"`
	Items    int    `json:"items"`
}

// DayCount is the number of events of one type on one day (UTC).
type DayCount struct {
	Day    string           `json:"day"`
	Type   tailor.EventType `json:"type"`
	Events int              `json:"events"`
}

// Browser reads the catalog by category and the events by day, for a
// storefront and a dashboard.
type Browser interface {
	// Categories returns every category path and each of its ancestors
	// with the number of items under it (non-products and hidden items
	// not counted), in path order.
	Categories(ctx context.Context) ([]CategoryCount, error)
	// CategoryItems returns a page of the items under a category path (in
	// it or in one of its sub-categories), hidden items and non-products
	// left out, in id order.
	CategoryItems(ctx context.Context, category string, p PageRequest) (Page[tailor.Item], error)
	// EventsPerDay counts the events of each type on each UTC day from the
	// day of since, oldest day first.
	EventsPerDay(ctx context.Context, since time.Time) ([]DayCount, error)
}

// PageRequest asks for one page of a list.
type PageRequest struct {
	// Cursor is the NextCursor of the previous page; empty for the first.
	Cursor string
	// Limit is the page size: 0 means DefaultPageSize, and it is capped at
	// MaxPageSize.
	Limit int
}

// Size returns the effective page size of p.
func (p PageRequest) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageSize
	case p.Limit > MaxPageSize:
		return MaxPageSize
	}
	return p.Limit
}

// Page is one page of a list.
type Page[T any] struct {
	Data []T `json:"data"`
	// NextCursor fetches the next page; empty on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// EventQuery selects events. Zero fields do not restrict.
type EventQuery struct {
	UserID    tailor.UserID
	SessionID string
	ItemID    tailor.ItemID
	// Types, when not empty, keeps only events of these types.
	Types []tailor.EventType
	// Since and Until bound the timestamp: Since ≤ t < Until.
	Since, Until time.Time
	// Attributed keeps only events that carry a recommendation id.
	Attributed bool
}

// AllItems calls fn for every item of the catalog, in id order, reading it
// page by page; it stops at fn's first error, which it returns.
func AllItems(ctx context.Context, r ItemReader, fn func(*tailor.Item) error) error {
	return pages(ctx, r.Items, fn)
}

// AllUsers calls fn for every shopper, in id order, reading them page by
// page; it stops at fn's first error, which it returns.
func AllUsers(ctx context.Context, r UserReader, fn func(*tailor.User) error) error {
	return pages(ctx, r.Users, fn)
}

// AllEvents calls fn for every event that matches q, newest first, reading
// them page by page; it stops at fn's first error, which it returns.
func AllEvents(ctx context.Context, r EventReader, q EventQuery, fn func(*tailor.Event) error) error {
	return pages(ctx, func(ctx context.Context, p PageRequest) (Page[tailor.Event], error) { return r.Events(ctx, q, p) }, fn)
}

// pages calls fn for every record of a paged listing.
func pages[T any](ctx context.Context, list func(context.Context, PageRequest) (Page[T], error), fn func(*T) error) error {
	p := PageRequest{Limit: MaxPageSize}
	for {
		page, err := list(ctx, p)
		if err != nil {
			return err
		}
		for i := range page.Data {
			if err := fn(&page.Data[i]); err != nil {
				return err
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		p.Cursor = page.NextCursor
	}
}

// Signature is a cheap summary of what a store holds: the number of events
// and the newest one. Background builders read the store again only when
// it changes.
type Signature struct {
	Events   int
	Newest   time.Time
	NewestID string
}

// SignatureOf reads a store's signature.
func SignatureOf(ctx context.Context, s interface {
	Counter
	EventReader
}) (Signature, error) {
	c, err := s.Counts(ctx)
	if err != nil {
		return Signature{}, err
	}
	sig := Signature{Events: c.Events}
	newest, err := s.Events(ctx, EventQuery{}, PageRequest{Limit: 1})
	if err != nil {
		return Signature{}, err
	}
	if len(newest.Data) > 0 {
		sig.Newest, sig.NewestID = newest.Data[0].Timestamp, newest.Data[0].ID
	}
	return sig, nil
}

// EncodeIDCursor is the cursor of a listing in id order that goes on after
// the id (backends share the format, so a cursor names a position, not a
// backend).
func EncodeIDCursor(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DecodeIDCursor reads an EncodeIDCursor cursor, or returns ErrBadCursor.
func DecodeIDCursor(c string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	return string(b), nil
}

// EncodeEventCursor is the cursor of an event listing (newest first) that
// goes on after the event at time ts (Unix nanoseconds) with the
// backend's insertion number seq.
func EncodeEventCursor(ts, seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(ts, 10) + "," + strconv.FormatInt(seq, 10)))
}

// DecodeEventCursor reads an EncodeEventCursor cursor, or returns
// ErrBadCursor.
func DecodeEventCursor(c string) (ts, seq int64, err error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err == nil {
		a, s, ok := strings.Cut(string(b), ",")
		if ok {
			ts, err = strconv.ParseInt(a, 10, 64)
			if err == nil {
				seq, err = strconv.ParseInt(s, 10, 64)
				if err == nil {
					return ts, seq, nil
				}
			}
		}
	}
	return 0, 0, fmt.Errorf("%w: %q", ErrBadCursor, c)
}

// CheckReport checks a report before it is stored: a kind, and a body
// that is a JSON object.
func CheckReport(r Report) error {
	if r.Kind == "" {
		return errors.New("put report: the kind is empty")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &obj); err != nil || obj == nil {
		return fmt.Errorf("put report %s: the body is not a JSON object", r.Kind)
	}
	return nil
}
