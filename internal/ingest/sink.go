package ingest

import (
	"context"
	"encoding/hex"
	"hash/fnv"
	"math"
	"strconv"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// Flush thresholds: rows are handed to the store in batches this large.
const (
	eventBatch  = 4096
	recordBatch = 1024
)

// Sink receives the rows a format parser reads. It validates each row,
// counts it in the report, and writes what it accepts in batches. A parser
// calls exactly one of Item, User, Event or Reject for every data row, and
// DeriveItem/DeriveUser for records it builds from several rows.
//
// Writing happens on a goroutine of its own, so that parsing the next
// batch overlaps with storing the last; batches are written in the order
// they were made. A Sink is not safe for concurrent use.
type Sink struct {
	rules  *tailor.Rules
	now    time.Time
	report *Report

	events []tailor.Event
	items  []tailor.Item
	users  []tailor.User

	ops  chan batch
	done chan writeResult
	ctx  context.Context // cancelled when writing fails
}

// batch is one unit of work for the writing goroutine.
type batch struct {
	items  []tailor.Item
	users  []tailor.User
	events []tailor.Event
}

// writeResult is what the writing goroutine did.
type writeResult struct {
	written    Written
	duplicates int
	err        error
}

// recordWriter is where a Sink's accepted records go: a store's Writer
// (Import) or the caller of Read.
type recordWriter interface {
	UpsertItems(ctx context.Context, items []tailor.Item) error
	UpsertUsers(ctx context.Context, users []tailor.User) error
	InsertEvents(ctx context.Context, events []tailor.Event) (store.InsertResult, error)
}

// newSink starts the writing goroutine; close must be called to stop it.
func newSink(ctx context.Context, w recordWriter, rules *tailor.Rules, now time.Time, report *Report) *Sink {
	ctx, cancel := context.WithCancelCause(ctx)
	s := &Sink{rules: rules, now: now, report: report, ops: make(chan batch, 2), done: make(chan writeResult, 1), ctx: ctx}
	go func() {
		var res writeResult
		for b := range s.ops {
			if res.err != nil {
				continue // drain
			}
			res.err = write(ctx, w, b, &res)
			if res.err != nil {
				cancel(res.err)
			}
		}
		cancel(nil)
		s.done <- res
	}()
	return s
}

func write(ctx context.Context, w recordWriter, b batch, res *writeResult) error {
	if len(b.items) > 0 {
		if err := w.UpsertItems(ctx, b.items); err != nil {
			return err
		}
		res.written.Items += len(b.items)
	}
	if len(b.users) > 0 {
		if err := w.UpsertUsers(ctx, b.users); err != nil {
			return err
		}
		res.written.Users += len(b.users)
	}
	if len(b.events) > 0 {
		r, err := w.InsertEvents(ctx, b.events)
		if err != nil {
			return err
		}
		res.written.Events += r.Inserted
		res.duplicates += r.Duplicates
	}
	return nil
}

// send hands a batch to the writing goroutine.
func (s *Sink) send(b batch) error {
	select {
	case s.ops <- b:
		return nil
	case <-s.ctx.Done():
		return context.Cause(s.ctx)
	}
}

// close flushes what is pending, waits for the writing goroutine and
// counts what it wrote in the report.
func (s *Sink) close() error {
	err := s.flush()
	close(s.ops)
	res := <-s.done
	s.report.Written = res.written
	s.report.Accepted += res.written.Events
	s.report.Duplicates += res.duplicates
	if res.err != nil {
		return res.err
	}
	return err
}

// Reject counts a row as rejected for reason (a short snake_case word that
// groups rows), naming the field when one is at fault.
func (s *Sink) Reject(loc Loc, reason, field, msg string) {
	s.report.reject(loc, reason, field, msg)
}

// Transformed counts n changes of the given kind made to accepted data.
func (s *Sink) Transformed(what string, n int) {
	if n != 0 {
		s.report.Transformed[what] += n
	}
}

// Note adds a remark about the input as a whole to the report.
func (s *Sink) Note(msg string) {
	s.report.Notes = append(s.report.Notes, msg)
}

// rejectInvalid counts a row that failed validation, under the reason
// "invalid_<field>" of its first problem.
func (s *Sink) rejectInvalid(loc Loc, errs []tailor.FieldError) {
	first := errs[0]
	reason := "invalid_record"
	if first.Field != "" {
		reason = "invalid_" + baseField(first.Field)
	}
	msg := first.Reason
	if len(errs) > 1 {
		msg += " (and " + strconv.Itoa(len(errs)-1) + " more problems)"
	}
	s.report.reject(loc, reason, first.Field, msg)
}

// baseField strips the index or key of a field path: "categories[2]" and
// "attributes.color" become "categories" and "attributes".
func baseField(f string) string {
	for i := 0; i < len(f); i++ {
		if f[i] == '[' || f[i] == '.' {
			return f[:i]
		}
	}
	return f
}

// Item accepts or rejects an item row.
func (s *Sink) Item(loc Loc, it tailor.Item) error {
	if errs := s.rules.CheckItem(&it); errs != nil {
		s.rejectInvalid(loc, errs)
		return nil
	}
	s.report.Read++
	s.report.Accepted++
	return s.addItem(it)
}

// DeriveItem writes an item built from several rows; it is not a row.
func (s *Sink) DeriveItem(it tailor.Item) error {
	if errs := s.rules.CheckItem(&it); errs != nil {
		s.Note("derived item " + string(it.ID) + " skipped: " + errs[0].Error())
		return nil
	}
	return s.addItem(it)
}

func (s *Sink) addItem(it tailor.Item) error {
	s.items = append(s.items, it)
	if len(s.items) >= recordBatch {
		return s.flushItems()
	}
	return nil
}

// User accepts or rejects a user row.
func (s *Sink) User(loc Loc, u tailor.User) error {
	if errs := s.rules.CheckUser(&u); errs != nil {
		s.rejectInvalid(loc, errs)
		return nil
	}
	s.report.Read++
	s.report.Accepted++
	return s.addUser(u)
}

// DeriveUser writes a user built from several rows; it is not a row.
func (s *Sink) DeriveUser(u tailor.User) error {
	if errs := s.rules.CheckUser(&u); errs != nil {
		s.Note("derived user " + string(u.ID) + " skipped: " + errs[0].Error())
		return nil
	}
	return s.addUser(u)
}

func (s *Sink) addUser(u tailor.User) error {
	s.users = append(s.users, u)
	if len(s.users) >= recordBatch {
		return s.flushUsers()
	}
	return nil
}

// Event accepts or rejects an event row. An event without an id gets one
// derived from its content, so importing the same file twice stores its
// events once. It reports whether the event was accepted for writing.
func (s *Sink) Event(loc Loc, e tailor.Event) (bool, error) {
	if e.ID == "" {
		e.ID = ContentID(&e)
	}
	if errs := s.rules.CheckEvent(&e, s.now); errs != nil {
		s.rejectInvalid(loc, errs)
		return false, nil
	}
	s.report.Read++
	s.events = append(s.events, e)
	if len(s.events) >= eventBatch {
		return true, s.flushEvents()
	}
	return true, nil
}

// ContentID derives an event id from the event's content: "h" and 32 hex
// digits of its FNV-1a 128-bit hash. Events that agree in every field get
// the same id.
func ContentID(e *tailor.Event) string {
	h := fnv.New128a()
	var buf [8]byte
	str := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	num := func(p *float64) {
		if p == nil {
			h.Write([]byte{0})
			return
		}
		bits := math.Float64bits(*p)
		for i := range buf {
			buf[i] = byte(bits >> (8 * i))
		}
		h.Write([]byte{1})
		h.Write(buf[:])
	}
	str(string(e.UserID))
	str(e.SessionID)
	str(string(e.ItemID))
	str(string(e.Type))
	num(e.Value)
	num(e.UnitPrice)
	str(e.OrderID)
	str(e.RecommendationID)
	str(strconv.FormatInt(e.Timestamp.UnixNano(), 10))
	return "h" + hex.EncodeToString(h.Sum(nil))
}

func (s *Sink) flushItems() error {
	if len(s.items) == 0 {
		return nil
	}
	b := batch{items: s.items}
	s.items = nil
	return s.send(b)
}

func (s *Sink) flushUsers() error {
	if len(s.users) == 0 {
		return nil
	}
	b := batch{users: s.users}
	s.users = nil
	return s.send(b)
}

func (s *Sink) flushEvents() error {
	if len(s.events) == 0 {
		return nil
	}
	b := batch{events: s.events}
	s.events = make([]tailor.Event, 0, eventBatch)
	return s.send(b)
}

// flush hands everything pending to the writer. Items and users go first
// so that full records, not bare ones, are what events refer to.
func (s *Sink) flush() error {
	if err := s.flushItems(); err != nil {
		return err
	}
	if err := s.flushUsers(); err != nil {
		return err
	}
	return s.flushEvents()
}
