package server_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tailorhq/tailor/internal/server"
)

// What net/http answers by itself, before the API's handlers run, has the
// API's error shape too.
func TestListenerErrorShape(t *testing.T) {
	f := newFixture(t, server.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: f.srv, MaxHeaderBytes: 4096, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(server.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	send := func(raw string) (*http.Response, []byte) {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go io.WriteString(c, raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%.40q: %v", raw, err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	tests := []struct {
		name, raw  string
		status     int
		code, want string
	}{
		{"bad header", "GET /healthz HTTP/1.1\r\nHost: x\r\nNo colon here\r\n\r\n", 400, "bad_request", "malformed"},
		{"no host", "GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_request", "Host"},
		{"bad request line", "GARBAGE\r\n\r\n", 400, "bad_request", "could not be read"},
		{"headers too large", "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n", 431, "headers_too_large", "headers are larger"},
		{"unknown transfer coding", "POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: rot13\r\n\r\n", 501, "not_implemented", "transfer encoding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := send(tt.raw)
			var e struct {
				Error server.Error `json:"error"`
			}
			if resp.StatusCode != tt.status || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("status %d %q, want %d application/json: %s", resp.StatusCode, resp.Header.Get("Content-Type"), tt.status, body)
			}
			if err := json.Unmarshal(body, &e); err != nil || e.Error.Code != tt.code || !strings.Contains(e.Error.Message, tt.want) {
				t.Errorf("body %s (%v), want code %s and %q", body, err, tt.code, tt.want)
			}
		})
	}
	// The handlers' own answers pass through untouched.
	resp, body := send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Errorf("healthz: %d %s", resp.StatusCode, body)
	}
	resp, body = send("GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"not_found"`) {
		t.Errorf("404: %d %s", resp.StatusCode, body)
	}
}
