package explain_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/llm/explain"
	"github.com/tailorhq/tailor/internal/llm/llmtest"
	"github.com/tailorhq/tailor/internal/llm/openai"
)

// TestSentences: sentences of the items asked about are taken; an item not
// asked about, an over-long or multi-line sentence, prose and a slow model
// are errors (the caller keeps the reasons).
func TestSentences(t *testing.T) {
	srv := llmtest.New()
	defer srv.Close()
	c, err := openai.New(openai.Config{BaseURL: srv.URL + "/v1", ChatModel: "chat", Retries: -1})
	if err != nil {
		t.Fatal(err)
	}
	x := &explain.Explainer{Chat: c, Timeout: 300 * time.Millisecond}
	items := []explain.Evidence{{ID: "A", Title: "TEA CUP", Reason: "because you bought WHITE TEAPOT"}, {ID: "B", Title: "MUG", Reason: "trending"}}
	cases := []struct {
		reply   string
		delay   time.Duration
		want    map[tailor.ItemID]string
		wantErr string
	}{
		{reply: `{"sentences": {"A": " Goes with the teapot you bought. ", "B": "Popular this week."}}`,
			want: map[tailor.ItemID]string{"A": "Goes with the teapot you bought.", "B": "Popular this week."}},
		{reply: `{"sentences": {"A": "Goes with your teapot."}}`, want: map[tailor.ItemID]string{"A": "Goes with your teapot."}},
		{reply: `{"sentences": {"Z": "Buy this!"}}`, wantErr: `"Z" was not asked about`},
		{reply: `{"sentences": {"A": "` + strings.Repeat("very ", 60) + `"}}`, wantErr: "over 240 bytes"},
		{reply: `{"sentences": {"A": "one\ntwo"}}`, wantErr: "more than a line"},
		{reply: `Here you go: A is great`, wantErr: "not sentences"},
		{reply: `{"sentences": {}}`, delay: time.Second, wantErr: "deadline"},
	}
	for _, tc := range cases {
		if tc.delay > 0 {
			srv.Fail(llmtest.Failure{Delay: tc.delay})
		}
		srv.Script(llmtest.Reply{Content: tc.reply})
		got, err := x.Sentences(context.Background(), items)
		if tc.wantErr == "" {
			if err != nil || len(got) != len(tc.want) {
				t.Errorf("%q: %v, %v", tc.reply, got, err)
			}
			for id, s := range tc.want {
				if got[id] != s {
					t.Errorf("%q: %s = %q, want %q", tc.reply, id, got[id], s)
				}
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%q: %v, %v; want an error saying %q", tc.reply, got, err, tc.wantErr)
		}
	}
}
