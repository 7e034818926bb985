package server

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestDecodeQuery(t *testing.T) {
	q, _ := url.ParseQuery("category=a,b&exclude_category=c&min_price=1.5&max_price=10&in_stock=true&attr.color=red,blue&attr.size=42&max_per_category=2&exclude=x,y&n=5")
	var lq ListQuery
	if err := decodeQuery(q, &lq); err != nil {
		t.Fatal(err)
	}
	req, err := listRequest(&lq)
	if err != nil {
		t.Fatal(err)
	}
	r := req.Rules
	if req.N != 5 || len(r.Categories) != 2 || r.ExcludeCategories[0] != "c" || *r.MinPrice != 1.5 || *r.MaxPrice != 10 || !r.InStockOnly ||
		len(r.Attributes["color"]) != 2 || len(r.Attributes["size"]) != 2 || r.MaxPerCategory != 2 || len(r.ExcludeItems) != 2 {
		t.Errorf("request = %+v, rules %+v", req, r)
	}
	var none ListQuery
	if err := decodeQuery(url.Values{}, &none); err != nil || none.N != nil {
		t.Errorf("no parameters: %+v, %v", none, err)
	}
	if req, _ := listRequest(&none); req.N != 10 {
		t.Errorf("default n = %d", req.N)
	}
	for _, bad := range []string{"min_price=cheap", "in_stock=maybe", "max_per_category=two", "mmr_lambda=2", "min_price=3&max_price=2",
		"n=ten", "n=1&n=2", "colour=red", "attr.=x"} {
		q, _ := url.ParseQuery(bad)
		var lq ListQuery
		err := decodeQuery(q, &lq)
		if err == nil {
			_, err = listRequest(&lq)
		}
		if err == nil {
			t.Errorf("%s accepted", bad)
			continue
		}
		if name := strings.SplitN(bad, "=", 2)[0]; !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v does not name %s", bad, err, name)
		}
	}
	var pe *ParamError
	if err := decodeQuery(url.Values{"x": {"1"}}, nil); !errors.As(err, &pe) || pe.Name != "x" {
		t.Errorf("a route without parameters: %v", err)
	}
	var eq EventsQuery
	if err := decodeQuery(url.Values{"type": {"view,click", "purchase"}, "since": {"2024-05-01T12:00:00Z"}, "limit": {"7"}}, &eq); err != nil {
		t.Fatal(err)
	}
	got, err := eventQuery(&eq)
	if err != nil || len(got.Types) != 3 || !got.Since.Equal(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)) || *eq.Limit != 7 {
		t.Errorf("events query: %+v, %v", got, err)
	}
	// Times the store cannot hold are refused, naming the parameter; the
	// ends of its range are accepted.
	for _, tc := range []struct {
		q  string
		ok bool
	}{
		{"since=0001-01-01T00:00:00Z", false}, {"until=9999-12-31T23:59:59Z", false}, {"since=1677-01-01T00:00:00Z", false},
		{"until=2262-05-01T00:00:00Z", false}, {"since=1678-01-01T00:00:00Z", true}, {"until=2262-01-01T00:00:00Z", true},
	} {
		q, _ := url.ParseQuery(tc.q)
		var eq EventsQuery
		err := decodeQuery(q, &eq)
		if name := strings.SplitN(tc.q, "=", 2)[0]; tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), name+":")) {
			t.Errorf("%s: %v", tc.q, err)
		}
	}
	many := url.Values{}
	for range 33 {
		many.Add("type", "view")
	}
	var eq2 EventsQuery
	if err := decodeQuery(many, &eq2); err != nil {
		t.Fatal(err)
	}
	if _, err := eventQuery(&eq2); err == nil || !strings.Contains(err.Error(), "at most 32") {
		t.Errorf("33 types: %v", err)
	}
	var fq FunnelQuery
	if err := decodeQuery(url.Values{"window": {"0"}, "steps": {"view, purchase"}}, &fq); err != nil || *fq.Window != 0 || len(fq.Steps) != 2 {
		t.Errorf("funnel: %+v, %v", fq, err)
	}
	var rq RFMQuery
	if err := decodeQuery(url.Values{"at": {"2011-12-10T00:00:00Z"}}, &rq); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("rfm at a time, not a date: %v", err)
	}
}
