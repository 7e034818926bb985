package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/tailorhq/tailor/internal/ingest"
	"github.com/tailorhq/tailor/internal/recommend"
	"github.com/tailorhq/tailor/internal/store"
)

// Error is the body of every error response, under the key "error".
type Error struct {
	// Code is a stable, machine-readable word: bad_request, invalid_batch,
	// batch_too_large, body_too_large, unauthorized, forbidden, not_found,
	// method_not_allowed, conflict, rate_limited, unavailable, internal.
	Code string `json:"code"`
	// Message says what went wrong, for a person.
	Message string `json:"message"`
	// Rows lists every bad row of a batch, by 0-based index.
	Rows []ingest.RowError `json:"rows,omitempty"`
}

// errorBody wraps Error as the response body.
type errorBody struct {
	Error Error `json:"error"`
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	body   Error
}

// retryAfter is an apiError sent with Retry-After (seconds).
type retryAfter struct {
	*apiError
	seconds int
}

func (e *retryAfter) Unwrap() error { return e.apiError }

func (e *apiError) Error() string { return e.body.Message }

func badRequest(format string, args ...any) error {
	return &apiError{status: http.StatusBadRequest, body: Error{Code: "bad_request", Message: fmt.Sprintf(format, args...)}}
}

// writeError maps err to a status and an Error body. This is the only place
// where errors become HTTP responses.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ae   *apiError
		mbe  *http.MaxBytesError
		btl  *ingest.BatchTooLargeError
		rfe  *recommend.FieldError
		pe   *ParamError
		resp *apiError
	)
	switch {
	case errors.As(err, &ae):
		resp = ae
	case errors.As(err, &mbe):
		resp = &apiError{http.StatusRequestEntityTooLarge, Error{Code: "body_too_large",
			Message: fmt.Sprintf("the request body is larger than %d bytes; send smaller batches", mbe.Limit)}}
	case errors.As(err, &pe):
		resp = &apiError{http.StatusBadRequest, Error{Code: "bad_request", Message: pe.Error()}}
	case errors.As(err, &rfe):
		resp = &apiError{http.StatusBadRequest, Error{Code: "bad_request", Message: rfe.Error()}}
	case errors.As(err, &btl):
		resp = &apiError{http.StatusBadRequest, Error{Code: "batch_too_large", Message: btl.Error()}}
	case errors.Is(err, store.ErrNotFound):
		resp = &apiError{http.StatusNotFound, Error{Code: "not_found", Message: err.Error()}}
	case errors.Is(err, store.ErrBadCursor):
		resp = &apiError{http.StatusBadRequest, Error{Code: "bad_request", Message: "cursor: " + err.Error()}}
	case errors.Is(err, store.ErrBusy):
		w.Header().Set("Retry-After", "1")
		resp = &apiError{http.StatusServiceUnavailable, Error{Code: "unavailable",
			Message: "the store is busy with another writer (an import, or another process); nothing was written: retry"}}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		resp = &apiError{http.StatusServiceUnavailable, Error{Code: "unavailable", Message: "the request was cancelled or timed out"}}
	default:
		s.log.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("err", err))
		resp = &apiError{http.StatusInternalServerError, Error{Code: "internal", Message: "internal error; the server log has the details"}}
	}
	if ra := (*retryAfter)(nil); errors.As(err, &ra) {
		w.Header().Set("Retry-After", strconv.Itoa(ra.seconds))
	}
	if resp.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tailor"`)
	}
	if resp.status == http.StatusInternalServerError || resp.status == http.StatusServiceUnavailable {
		s.met.storeErrors.Inc()
	}
	_ = s.writeJSON(w, resp.status, errorBody{resp.body}) // strings and rows of strings: it always encodes
}

// jsonAppender is a response that writes its own JSON, as encoding/json
// would without HTML escaping and without the final newline (the lists:
// recommend.Response).
type jsonAppender interface {
	AppendJSON(b []byte) ([]byte, error)
}

// releaser is a value the handler gives back once it is written (a
// list's recommend.Response, reused by its engine).
type releaser interface {
	Release()
}

// buffer returns an empty buffer from the server's pool (putBuffer gives
// it back): responses are encoded into them, list bodies read into them.
func (s *Server) buffer() *bytes.Buffer {
	if buf, _ := s.buffers.Get().(*bytes.Buffer); buf != nil {
		return buf
	}
	return new(bytes.Buffer)
}

// putBuffer gives buf back to the pool, unless it grew large (a large
// listing's buffer is not kept).
func (s *Server) putBuffer(buf *bytes.Buffer) {
	if buf.Cap() <= 1<<20 {
		buf.Reset()
		s.buffers.Put(buf)
	}
}

// writeJSON encodes v whole, then sends it with the status: a value that
// cannot be encoded (a NaN, say) is an error returned before anything is
// sent, never a status followed by a broken body. Errors writing to the
// client are not returned (the client is gone; nothing can be answered).
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) error {
	buf := s.buffer()
	defer s.putBuffer(buf)
	if a, ok := v.(jsonAppender); ok {
		b, err := a.AppendJSON(buf.AvailableBuffer())
		if err != nil {
			return fmt.Errorf("encode the response: %w", err)
		}
		buf.Write(append(b, '\n'))
	} else {
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("encode the response: %w", err)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
	return nil
}
