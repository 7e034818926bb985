package ingest

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// memWriter is an in-memory store.Writer for fuzzing the parsers without
// a database. It keeps event ids to report duplicates as a store would.
type memWriter struct {
	ids map[string]bool
}

func (m *memWriter) UpsertItems(context.Context, []tailor.Item) error { return nil }
func (m *memWriter) UpsertUsers(context.Context, []tailor.User) error { return nil }
func (m *memWriter) InsertEvents(_ context.Context, events []tailor.Event) (store.InsertResult, error) {
	var r store.InsertResult
	for _, e := range events {
		if m.ids[e.ID] {
			r.Duplicates++
			continue
		}
		m.ids[e.ID] = true
		r.Inserted++
	}
	return r, nil
}

// fuzzParse runs parse over data and checks the report's arithmetic.
func fuzzParse(t *testing.T, data []byte, parse func(context.Context, io.Reader, string, *Sink) error) {
	rules := tailor.DefaultRules()
	rep := newReport("fuzz", nil)
	s := newSink(context.Background(), &memWriter{ids: map[string]bool{}}, &rules, time.Now(), rep)
	perr := parse(s.ctx, bytes.NewReader(data), "fuzz", s)
	if err := s.close(); err != nil {
		t.Fatalf("write: %v", err)
	}
	if perr != nil {
		return // a whole-input error (such as a wrong header) is a valid outcome
	}
	if rep.Read != rep.Accepted+rep.Rejected+rep.Duplicates {
		t.Fatalf("read %d != accepted %d + rejected %d + duplicates %d", rep.Read, rep.Accepted, rep.Rejected, rep.Duplicates)
	}
	sum := 0
	for _, n := range rep.RejectedByReason {
		sum += n
	}
	if sum != rep.Rejected {
		t.Fatalf("rejected %d, but the reasons add up to %d", rep.Rejected, sum)
	}
}

func addFile(f *testing.F, path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

func FuzzOnlineRetail(f *testing.F) {
	addFile(f, "testdata/online-retail-small.csv")
	f.Add([]byte("InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n1,2,\"x\"\"\",1,2011-01-01 10:00,1e308,1.5,UK\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, data, parseOnlineRetail) })
}

func FuzzCSV(f *testing.F) {
	for _, name := range []string{"events.csv", "items.csv", "users.csv", "wrong-header.csv"} {
		addFile(f, filepath.Join("testdata", name))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, data, parseCSV) })
}

func FuzzJSONL(f *testing.F) {
	addFile(f, "testdata/sample.jsonl")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, data, parseJSONL) })
}

func FuzzMovieLens(f *testing.F) {
	// One input feeds the four MovieLens parsers, so every one is fuzzed.
	for _, name := range []string{"ml-100k/u.data", "ml-100k/u.item", "ml-100k/u.user", "ml-small/movies.csv", "ml-small/ratings.csv"} {
		addFile(f, filepath.Join("testdata", name))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzParse(t, data, parseML100KRatings)
		fuzzParse(t, data, func(ctx context.Context, r io.Reader, name string, s *Sink) error {
			return parseML100KItems(ctx, r, name, ml100kGenres, s)
		})
		fuzzParse(t, data, parseML100KUsers)
		fuzzParse(t, data, parseMLMovies)
		fuzzParse(t, data, parseMLRatings)
	})
}

func FuzzCDNOW(f *testing.F) {
	for _, name := range []string{"cdnow/sample.txt", "cdnow/master.txt"} {
		addFile(f, filepath.Join("testdata", name))
	}
	f.Add([]byte(" 1 19970101 -1 5\n x 19970101 1 5\n 1 1997 1 5\n 1 19970101 1 -5\n 1 2 3\n"))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzParse(t, data, parseCDNOW) })
}

func FuzzDecodeArray(f *testing.F) {
	f.Add([]byte(`[{"id":"e1","user_id":"u1","item_id":"i1","type":"view","timestamp":"2024-05-01T10:00:00Z"}]`))
	f.Add([]byte(`[{"item_id":1},{"value":"x"},{"timestamp":"nope"},{"x":1},[],"s"]`))
	f.Add([]byte(`[{"attributes":{"a":[1]}}, {"unit_price":-1e400}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, bad, err := DecodeArray[tailor.Event](bytes.NewReader(data), 50)
		if err != nil {
			if rows != nil || bad != nil {
				t.Fatal("rows returned with an error")
			}
			return
		}
		for _, b := range bad {
			if b.Index < 0 || b.Index >= len(rows) {
				t.Fatalf("row error index %d out of range [0,%d)", b.Index, len(rows))
			}
			if b.Reason == "" {
				t.Fatal("row error without a reason")
			}
		}
		rules := tailor.DefaultRules()
		for i := range rows {
			rules.CheckEvent(&rows[i], time.Now())
		}
	})
}
