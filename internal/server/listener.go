package server

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// Listener wraps l so that the answers net/http writes itself, before any
// handler runs (a malformed request line or header: 400; headers over the
// server's MaxHeaderBytes: 431; an unknown transfer coding: 501), have the
// API's error shape, as JSON, instead of Go's plain text. Serve the API on
// it: http.Server.Serve(server.Listener(ln)).
func Listener(l net.Listener) net.Listener { return errorShapeListener{l} }

type errorShapeListener struct{ net.Listener }

func (l errorShapeListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return errorShapeConn{c}, nil
}

type errorShapeConn struct{ net.Conn }

// goErrorHeaders is what net/http writes after the status line of the
// answers it makes itself. Its own responses never have it there: they
// list Connection before Content-Type, and a Date.
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

func (c errorShapeConn) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.1 ")) {
		return c.Conn.Write(p)
	}
	// Look at the status line only: a handler's response (most writes)
	// costs one short scan, never a search through its body.
	nl := bytes.IndexByte(p, '\n')
	if len(p) < 10 || (p[9] != '4' && p[9] != '5') || nl < 1 || !bytes.HasPrefix(p[nl-1:], []byte(goErrorHeaders)) {
		return c.Conn.Write(p)
	}
	i := nl - 1
	line, body := string(p[:i]), string(p[i+len(goErrorHeaders):])
	status, err := strconv.Atoi(strings.TrimPrefix(line, "HTTP/1.1 ")[:min(3, len(line)-len("HTTP/1.1 "))])
	if err != nil || status < 400 || status > 599 {
		return c.Conn.Write(p)
	}
	code, msg := "bad_request", "a malformed request line or header"
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		code, msg = "headers_too_large", "its headers are larger than this server accepts"
	case http.StatusNotImplemented:
		code, msg = "not_implemented", "unsupported transfer encoding"
	}
	// Go's text is the status and, for some errors, a detail after ": ".
	if _, detail, ok := strings.Cut(body, ": "); ok && detail != "" {
		msg = detail
	}
	js, _ := json.Marshal(errorBody{Error{Code: code, Message: "the request could not be read: " + msg}}) // strings: it always encodes
	out := "HTTP/1.1 " + strconv.Itoa(status) + " " + http.StatusText(status) +
		"\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + strconv.Itoa(len(js)+1) + "\r\n\r\n" + string(js) + "\n"
	if _, err := c.Conn.Write([]byte(out)); err != nil {
		return 0, err
	}
	return len(p), nil
}
