package ingest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/store"
)

// BenchmarkDecodeArray measures decoding a POST /v1/events batch of 1,000
// events.
func BenchmarkDecodeArray(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("[")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"user_id":"u%d","item_id":"i%d","type":"purchase","value":2,"unit_price":3.5,"timestamp":"2024-05-01T10:00:00Z"}`, i%97, i%89)
	}
	sb.WriteString("]")
	body := []byte(sb.String())
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		rows, bad, err := DecodeArray[tailor.Event](bytes.NewReader(body), 10000)
		if err != nil || len(bad) > 0 || len(rows) != 1000 {
			b.Fatal(err, bad)
		}
	}
}

// BenchmarkParseOnlineRetail measures parsing and checking Online Retail
// lines, without a store.
func BenchmarkParseOnlineRetail(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(strings.Join(onlineRetailHeader, ",") + "\n")
	for i := 0; i < 10000; i++ {
		// Invoices of 20 lines share their time and customer, as in the data.
		inv := i / 20
		fmt.Fprintf(&sb, "%d,%d,\"ITEM %d, RED\",%d,2011-0%d-1%d 1%d:%02d:00,%.2f,%d.0,United Kingdom\n",
			536365+inv, 20000+i%3000, i%3000, 1+i%12, 1+inv%9, inv%10, inv%10, inv%60, 0.5+float64(i%40)/10, 12000+inv%4000)
	}
	data := []byte(sb.String())
	b.SetBytes(int64(len(data)))
	rules := tailor.DefaultRules()
	for i := 0; i < b.N; i++ {
		rep := newReport("bench", nil)
		s := newSink(context.Background(), discard{}, &rules, time.Now(), rep)
		if err := parseOnlineRetail(s.ctx, bytes.NewReader(data), "bench", s); err != nil {
			b.Fatal(err)
		}
		if err := s.close(); err != nil {
			b.Fatal(err)
		}
		if rep.Accepted != 10000 {
			b.Fatalf("accepted %d of 10000: %v", rep.Accepted, rep.RejectedByReason)
		}
	}
	b.ReportMetric(float64(b.N*10000)/b.Elapsed().Seconds(), "lines/s")
}

// discard is a store.Writer that keeps nothing.
type discard struct{}

func (discard) UpsertItems(context.Context, []tailor.Item) error { return nil }
func (discard) UpsertUsers(context.Context, []tailor.User) error { return nil }
func (discard) InsertEvents(_ context.Context, events []tailor.Event) (store.InsertResult, error) {
	return store.InsertResult{Inserted: len(events)}, nil
}
