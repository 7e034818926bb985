// Package ingest reads shop data in bulk formats (JSON Lines, CSV,
// MovieLens, UCI Online Retail) and JSON batches from the HTTP API, checks
// every row, and writes what it accepts to a store, reporting what it
// rejected, dropped and transformed.
package ingest

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// Target is what an import writes to.
type Target interface {
	store.Updater
	store.Counter
}

// Progress is told how far an import has got, in bytes of input read.
// Implementations need not be safe for concurrent use.
type Progress interface {
	// Start announces the total number of bytes to read.
	Start(total int64)
	// Add reports n more bytes read.
	Add(n int64)
}

// Options configure an import.
type Options struct {
	// Format is one of Formats().
	Format string
	// Rules check every record; nil means tailor.DefaultRules().
	Rules *tailor.Rules
	// Strict makes any rejected row fail the whole import, writing nothing.
	Strict bool
	// Progress, if not nil, follows the reading of the input.
	Progress Progress
	// Now is the current time; zero means time.Now().
	Now time.Time
}

// formatFunc parses the input at path (a file or, for some formats, a
// folder) into the sink.
type formatFunc func(ctx context.Context, in *input, path string, s *Sink) error

var formats = map[string]formatFunc{
	"jsonl":         fileFormat(parseJSONL),
	"csv":           fileFormat(parseCSV),
	"movielens":     importMovieLens,
	"online-retail": fileFormat(parseOnlineRetail),
	"cdnow":         fileFormat(parseCDNOW),
}

// fileFormat makes the formatFunc of a format whose input is one file.
func fileFormat(parse func(ctx context.Context, r io.Reader, name string, s *Sink) error) formatFunc {
	return func(ctx context.Context, in *input, path string, s *Sink) error {
		f, err := in.open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return parse(ctx, f, path, s)
	}
}

// Formats lists the supported import formats.
func Formats() []string {
	return []string{"jsonl", "csv", "movielens", "online-retail", "cdnow"}
}

// ErrStrict is returned (wrapped) by a strict import that rejected rows.
var ErrStrict = errors.New("strict import rejected rows")

// prepare checks the format and the inputs of an import or a read and
// resolves the options' defaults: the parser, the rules, the clock's now
// and the input (with its progress started).
func prepare(paths []string, opts Options) (formatFunc, *tailor.Rules, time.Time, *input, error) {
	parse, ok := formats[opts.Format]
	if !ok {
		return nil, nil, time.Time{}, nil, fmt.Errorf("unknown format %q: use one of %s", opts.Format, strings.Join(Formats(), ", "))
	}
	if len(paths) == 0 {
		return nil, nil, time.Time{}, nil, errors.New("no input files")
	}
	rules := opts.Rules
	if rules == nil {
		r := tailor.DefaultRules()
		rules = &r
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	in := &input{progress: opts.Progress}
	if in.progress != nil {
		in.progress.Start(totalSize(paths))
	}
	return parse, rules, now, in, nil
}

// Import reads the inputs in the given format and writes them to t in one
// transaction: if it fails, nothing it read is stored. A row that cannot be
// stored is rejected and counted in the report, unless opts.Strict is set,
// in which case the first rejection fails the import after the whole input
// has been read (so the report lists every bad row).
func Import(ctx context.Context, t Target, paths []string, opts Options) (*Report, error) {
	start := time.Now()
	parse, rules, now, in, err := prepare(paths, opts)
	if err != nil {
		return nil, err
	}
	report := newReport(opts.Format, slices.Clone(paths))
	err = t.Update(ctx, func(w store.Writer) error {
		// The store may run this more than once: start afresh each time.
		*report = *newReport(opts.Format, slices.Clone(paths))
		if d, ok := w.(store.IndexDeferrer); ok {
			if err := d.DeferIndexes(ctx, estimateRows(paths)); err != nil {
				return err
			}
		}
		s := newSink(ctx, w, rules, now, report)
		var perr error
		for _, p := range paths {
			if perr = parse(s.ctx, in, p, s); perr != nil {
				break
			}
		}
		if err := s.close(); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if perr != nil {
			return perr
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if opts.Strict && report.Rejected > 0 {
			return fmt.Errorf("%w: %d of %d rows were rejected", ErrStrict, report.Rejected, report.Read)
		}
		return nil
	})
	report.ElapsedSeconds = time.Since(start).Seconds()
	if report.ElapsedSeconds > 0 {
		report.RowsPerSecond = float64(report.Read) / report.ElapsedSeconds
	}
	if err != nil {
		// Nothing was kept: say what the store still holds.
		report.Written = Written{}
		if c, cerr := t.Counts(ctx); cerr == nil {
			report.Items, report.Users, report.Events = c.Items, c.Users, c.Events
		}
		return report, err
	}
	c, err := t.Counts(ctx)
	if err != nil {
		return report, err
	}
	report.Items, report.Users, report.Events = c.Items, c.Users, c.Events
	if rs, ok := t.(store.ReportStore); ok {
		// The data is stored whatever happens here: a report that cannot be
		// kept is a note, not a failed import.
		if err := saveReport(ctx, rs, report); err != nil {
			report.Notes = append(report.Notes, "the report was not kept in the store: "+err.Error())
		}
	}
	return report, nil
}

// saveReport keeps the report as the store's latest "import" report, which
// the dashboard shows.
func saveReport(ctx context.Context, rs store.ReportStore, report *Report) error {
	body, err := json.Marshal(report)
	if err != nil {
		return fmt.Errorf("encode the import report: %w", err)
	}
	return rs.PutReport(ctx, store.Report{Kind: "import", Body: body})
}

// estimateRows guesses how many rows the inputs hold from their size: 50
// bytes a row, gzip files counted at 6 times their size.
func estimateRows(paths []string) int {
	var n int64
	for _, p := range paths {
		size := totalSize([]string{p})
		if f, err := os.Open(p); err == nil {
			var magic [2]byte
			if k, _ := f.Read(magic[:]); k == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
				size *= 6
			}
			f.Close()
		}
		n += size / 50
	}
	return int(n)
}

func totalSize(paths []string) int64 {
	var n int64
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if !fi.IsDir() {
			n += fi.Size()
			continue
		}
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() && movieLensFiles[e.Name()] {
				n += info.Size()
			}
		}
	}
	return n
}

// input opens files for a format, transparently decompressing gzip and
// reporting progress.
type input struct {
	progress Progress
}

type file struct {
	io.Reader
	closers []io.Closer
}

func (f *file) Close() error {
	var errs []error
	for i := len(f.closers) - 1; i >= 0; i-- {
		errs = append(errs, f.closers[i].Close())
	}
	return errors.Join(errs...)
}

// open opens path for reading; gzip content (recognised by its magic
// bytes, whatever the name) is decompressed.
func (in *input) open(path string) (*file, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var r io.Reader = f
	if in.progress != nil {
		r = &countingReader{r: f, p: in.progress}
	}
	br := bufio.NewReaderSize(r, 1<<16)
	out := &file{Reader: br, closers: []io.Closer{f}}
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out.Reader = bufio.NewReaderSize(zr, 1<<16)
		out.closers = append(out.closers, zr)
	}
	return out, nil
}

type countingReader struct {
	r io.Reader
	p Progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.Add(int64(n))
	return n, err
}

// Records are a batch of accepted records, as Read hands them over.
type Records struct {
	Items  []tailor.Item
	Users  []tailor.User
	Events []tailor.Event
}

// Read parses the inputs in the given format like Import, without a store:
// it calls yield with each batch of accepted records, in the order read,
// and returns the cleaning report. Events whose id came earlier are counted
// as duplicates and not handed over, as a store would drop them; items and
// users are handed over as read (a later record replaces an earlier one).
// The report's Items, Users and Events count the distinct records handed
// over. A failing yield stops the read with its error.
func Read(ctx context.Context, paths []string, opts Options, yield func(Records) error) (*Report, error) {
	start := time.Now()
	parse, rules, now, in, err := prepare(paths, opts)
	if err != nil {
		return nil, err
	}
	report := newReport(opts.Format, slices.Clone(paths))
	y := &yielder{yield: yield, events: map[string]struct{}{}, items: map[tailor.ItemID]struct{}{}, users: map[tailor.UserID]struct{}{}}
	s := newSink(ctx, y, rules, now, report)
	var perr error
	for _, p := range paths {
		if perr = parse(s.ctx, in, p, s); perr != nil {
			break
		}
	}
	err = s.close()
	if err == nil {
		err = perr
	}
	if err == nil {
		err = ctx.Err()
	}
	if err == nil && opts.Strict && report.Rejected > 0 {
		err = fmt.Errorf("%w: %d of %d rows were rejected", ErrStrict, report.Rejected, report.Read)
	}
	report.ElapsedSeconds = time.Since(start).Seconds()
	if report.ElapsedSeconds > 0 {
		report.RowsPerSecond = float64(report.Read) / report.ElapsedSeconds
	}
	report.Items, report.Users, report.Events = len(y.items), len(y.users), len(y.events)
	return report, err
}

// yielder hands a Sink's batches to Read's caller, dropping events whose
// id it has handed over before.
type yielder struct {
	yield  func(Records) error
	events map[string]struct{}
	items  map[tailor.ItemID]struct{}
	users  map[tailor.UserID]struct{}
}

func (y *yielder) UpsertItems(_ context.Context, items []tailor.Item) error {
	for i := range items {
		y.items[items[i].ID] = struct{}{}
	}
	return y.yield(Records{Items: items})
}

func (y *yielder) UpsertUsers(_ context.Context, users []tailor.User) error {
	for i := range users {
		y.users[users[i].ID] = struct{}{}
	}
	return y.yield(Records{Users: users})
}

func (y *yielder) InsertEvents(_ context.Context, events []tailor.Event) (store.InsertResult, error) {
	fresh := events[:0:0]
	for i := range events {
		if _, dup := y.events[events[i].ID]; dup {
			continue
		}
		y.events[events[i].ID] = struct{}{}
		fresh = append(fresh, events[i])
	}
	if len(fresh) == 0 {
		return store.InsertResult{Duplicates: len(events)}, nil
	}
	return store.InsertResult{Inserted: len(fresh), Duplicates: len(events) - len(fresh)}, y.yield(Records{Events: fresh})
}
