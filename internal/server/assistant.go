package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/assistant"
)

// Assistant is the shopping assistant the API serves (assistant.Assistant).
type Assistant interface {
	Converse(ctx context.Context, req assistant.Request) (*assistant.Reply, error)
}

// AssistantBody is the body of POST /v1/assistant.
type AssistantBody struct {
	// ConversationID continues a conversation (omit it to start one).
	ConversationID string `json:"conversation_id,omitempty"`
	// UserID is the shopper (omit it for an anonymous one; a shopper
	// token's shopper when one is sent).
	UserID  string `json:"user_id,omitempty"`
	Message string `json:"message"`
}

func (s *Server) assistantRoutes() []route {
	return []route{
		{method: "POST", path: "/v1/assistant", role: RoleRead, summary: "Talk to the shopping assistant: a reply with product cards, every product checked against the catalogue and its stock (search and recommendations when no chat model is configured)",
			body: AssistantBody{}, response: assistant.Reply{}, handle: s.converse, whoCalls: true},
	}
}

func (s *Server) converse(r *http.Request) (any, error) {
	if s.opts.Assistant == nil {
		return nil, &apiError{http.StatusServiceUnavailable, Error{Code: "unavailable", Message: "this server runs without the assistant"}}
	}
	var b AssistantBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if strings.TrimSpace(b.Message) == "" {
		return nil, badRequest("message: required")
	}
	if shopper := tokenShopper(r.Context()); shopper != "" {
		if b.UserID != "" && b.UserID != shopper {
			return nil, &apiError{http.StatusForbidden, Error{Code: "forbidden", Message: fmt.Sprintf("user_id: this shopper token is for shopper %q, not %q", shopper, b.UserID)}}
		}
		b.UserID = shopper
	}
	if b.UserID != "" {
		if errs := s.opts.Rules.CheckUser(&tailor.User{ID: tailor.UserID(b.UserID)}); len(errs) > 0 {
			return nil, badRequest("user_id: %s", errs[0].Reason)
		}
	}
	if len(b.ConversationID) > 64 {
		return nil, badRequest("conversation_id: at most 64 characters")
	}
	rep, err := s.opts.Assistant.Converse(r.Context(), assistant.Request{ConversationID: b.ConversationID, UserID: tailor.UserID(b.UserID), Message: b.Message})
	if errors.Is(err, assistant.ErrConversation) {
		return nil, badRequest("%v", err)
	}
	return rep, err
}
