// Package model defines what a recommendation model is to the rest of
// Tailor: something that fits on a dataset.Dataset and answers typed
// questions (queries) about it. A query names its task (the next items for
// a shopper, items like an item, additions to a basket, the next item of a
// session, what a shopper will buy again, items for a text) and carries
// what the task needs. A model declares the tasks it answers; optional
// capabilities are small interfaces that callers detect with a type
// assertion, each with a documented fallback when absent, as
// database/sql/driver does.
//
// Each algorithm lives in a package of its own; package all lists those in
// this build.
package model

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/dataset"
	"github.com/tailorhq/tailor/internal/topk"
)

// Task is a kind of question a model answers.
type Task string

// The tasks.
const (
	// TaskPersonal asks for the next items of a shopper, given by their
	// training index (Query.User), their history (Query.History), or both.
	TaskPersonal Task = "personal"
	// TaskSimilar asks for the items most like one item (Query.Item).
	TaskSimilar Task = "similar"
	// TaskBasket asks for additions to a basket or cart (Query.History
	// holds its items).
	TaskBasket Task = "basket"
	// TaskSession asks for the next item of a session (Query.History holds
	// its items, oldest first).
	TaskSession Task = "session"
	// TaskRepurchase asks which of a shopper's past purchases (in
	// Query.History, with their times) they will buy again at Query.Time.
	TaskRepurchase Task = "repurchase"
	// TaskSearch asks for the items that answer a text (Query.Text),
	// optionally for a shopper (Query.User, Query.History).
	TaskSearch Task = "search"
)

// Tasks lists every task, in a fixed order.
func Tasks() []Task {
	return []Task{TaskPersonal, TaskSimilar, TaskBasket, TaskSession, TaskRepurchase, TaskSearch}
}

// Interaction is one entry of a query's history.
type Interaction struct {
	Item int32
	Type tailor.EventType
	// Weight is how much it counts (an event type's weight, a rating, a
	// count); models that need no weights ignore it.
	Weight float32
	// Time is when it happened, in Unix nanoseconds (0 when unknown).
	Time int64
}

// Query is one question to a model. Item indices are those of the dataset
// the model was fitted on.
type Query struct {
	Task Task
	// User is the shopper's index in the training data; −1 for a shopper
	// the model never saw (or an anonymous session).
	User int32
	// History is the shopper's or the session's interactions, oldest
	// first; an item may appear more than once.
	History []Interaction
	// Purchases, when not nil, are the shopper's purchases one by one,
	// oldest first, each with its time (an item once per purchase, where
	// History may give an item once for all its events): serving fills
	// it for the models that say they read it (PurchaseReader). A model
	// that reads it uses it for a shopper it does not know (User −1).
	Purchases []Interaction
	// Item is the item of TaskSimilar.
	Item int32
	// Text is the text of TaskSearch.
	Text string
	// Time is when the question is asked, in Unix nanoseconds (0: the
	// time of the newest training data).
	Time int64
	// N is the number of items wanted.
	N int
	// Exclude, if not nil, leaves out the items it returns true for.
	Exclude func(int32) bool
	// Candidates, if not nil, restricts the answer to these items (sorted
	// ascending).
	Candidates []int32
	// Boost, if not nil, is a factor for each item's score (see Boosted),
	// applied before the best N are chosen.
	Boost func(int32) float64
}

// Allowed reports whether item i may be in the answer: a candidate, not
// excluded.
func (q *Query) Allowed(i int32) bool {
	if q.Candidates != nil {
		if _, ok := slices.BinarySearch(q.Candidates, i); !ok {
			return false
		}
	}
	return q.Exclude == nil || !q.Exclude(i)
}

// Boosted returns score under the query's boost for item i.
func (q *Query) Boosted(i int32, score float32) float32 {
	if q.Boost == nil {
		return score
	}
	return Boosted(score, q.Boost(i))
}

// Boosted applies a factor to a score so that a larger factor always ranks
// higher, whatever the score's sign.
func Boosted(score float32, f float64) float32 {
	if f == 1 {
		return score
	}
	if score >= 0 {
		return score * float32(f)
	}
	return score / float32(f)
}

// Model is a recommender over the indices of the dataset it was fitted on.
// Answer is safe for concurrent use once Fit has returned.
type Model interface {
	// Fit trains the model. It may use every core, and stops early with
	// ctx's error when ctx is done. A model that needs a view the dataset
	// lacks (orders, a catalog with text) says so in its error.
	Fit(ctx context.Context, d *dataset.Dataset) error
	// Tasks lists the tasks the model answers.
	Tasks() []Task
	// Answer appends to dst the best items for q, best first, at most
	// q.N, all of them allowed by q; it may return fewer (or none) when
	// the model has nothing more to say. It fails for a task the model
	// does not answer (a *TaskError) and for indices outside the catalog.
	Answer(q *Query, dst []topk.Entry) ([]topk.Entry, error)
}

// TaskError is returned by Answer for a task the model does not answer, or
// cannot answer for the query (a history where it needs a training
// shopper).
type TaskError struct {
	Model  string
	Task   Task
	Reason string
}

func (e *TaskError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("%s cannot answer %s queries: %s", e.Model, e.Task, e.Reason)
	}
	return fmt.Sprintf("%s does not answer %s queries", e.Model, e.Task)
}

// Answers reports whether m declares the task.
func Answers(m Model, t Task) bool { return slices.Contains(m.Tasks(), t) }

// HistoryAnswerer is implemented by models that can say whether they answer
// personal queries from a history alone (Query.User −1): a shopper the
// model never saw, events newer than the model, an anonymous session.
// Serving needs that. A model without the method is taken to answer from
// histories.
type HistoryAnswerer interface {
	AnswersHistories() bool
}

// AnswersHistories reports whether m answers personal queries from a
// history alone.
func AnswersHistories(m Model) bool {
	if h, ok := m.(HistoryAnswerer); ok {
		return h.AnswersHistories()
	}
	return true
}

// FixedRanker is implemented by models whose answers to some task's
// queries (without Boost) are the first N of one ranking of the items,
// by score and then by index, that depends on the query's history (or
// item) alone: Exclude only drops items from it. A caller may then ask
// once for a longer answer and filter it itself, getting what asking
// with each filter would give. A model without the method is taken not
// to rank so (its answers may depend on the filter), and is asked every
// time.
type FixedRanker interface {
	RanksFixed(t Task) bool
}

// RanksFixed reports whether m's answers to task t are prefixes of one
// ranking (see FixedRanker).
func RanksFixed(m Model, t Task) bool {
	r, ok := m.(FixedRanker)
	return ok && r.RanksFixed(t)
}

// Deterministic is implemented by models whose answers to some task's
// history queries (User −1) depend on nothing but the query's History,
// Purchases, Exclude and N (not its Time, nor anything that changes while
// the model serves), and are the first N of one ranking for a given
// history and Exclude. A caller may then keep the answer to a history's
// usual question and give its first items when the same question comes
// again. A filter changes such a model's ranking, not only its length
// (the candidates a two-stage model gathers depend on it): answering a
// filtered question from the unfiltered ranking needs FixedRanker, which
// says more. A model without the method is asked every time.
type Deterministic interface {
	DeterminedByHistory(t Task) bool
}

// DeterminedByHistory reports whether m implements Deterministic and says
// its answers to task t depend on the history, the filter and the length
// alone.
func DeterminedByHistory(m Model, t Task) bool {
	d, ok := m.(Deterministic)
	return ok && d.DeterminedByHistory(t)
}

// PurchaseReader is implemented by models that read Query.Purchases: the
// repeat purchases and baskets a history of one entry per item hides.
// Serving fills Purchases for them only.
type PurchaseReader interface {
	ReadsPurchases() bool
}

// ReadsPurchases reports whether m implements PurchaseReader and says it
// reads Query.Purchases.
func ReadsPurchases(m Model) bool {
	r, ok := m.(PurchaseReader)
	return ok && r.ReadsPurchases()
}

// Sequential is implemented by models that learn from the order of each
// shopper's events (the next-item sequence models), and whose answers
// depend on the order of Query.History (oldest first, by Time; equal
// times keep their order). Serving asks them for an anonymous session's
// next items itself; without the method, a model is taken to see a
// history as a set, and sessions go to the shop's session model first.
type Sequential interface {
	LearnsOrder() bool
}

// LearnsOrder reports whether m implements Sequential and says it learns
// from the order of events.
func LearnsOrder(m Model) bool {
	s, ok := m.(Sequential)
	return ok && s.LearnsOrder()
}

// Explainer is a model that can say which of a history's items led to a
// recommendation: Because returns the history item that contributed most
// to item's score, and false when none did. Without it, answers carry no
// such reason.
type Explainer interface {
	Because(items []int32, item int32) (int32, bool)
}

// Due is what a model of repurchases knows of one past purchase.
type Due struct {
	// Times is the number of purchase days, Last the last one (Unix
	// nanoseconds).
	Times int
	Last  int64
	// IntervalDays is the repurchase interval, Ratio the time since the
	// last purchase over it, Next when it is due (Unix nanoseconds).
	IntervalDays, Ratio float64
	Next                int64
}

// DueDater is a repurchase model that can say when an item of a query's
// history is due. Without it, buy-again answers carry no due dates.
type DueDater interface {
	Due(q *Query, item int32) (Due, bool)
}

// Info describes a model kind: its name and how to make one.
type Info struct {
	Name string
	// New decodes the model's parameters (a JSON object; empty means the
	// defaults) and returns an unfitted model. seed seeds any randomness.
	// Parameters out of range are errors that name the parameter.
	New func(params json.RawMessage, seed uint64) (Model, error)
	// Grid is the parameter sets a search tries, as JSON objects; nil
	// when the model has nothing to tune.
	Grid []json.RawMessage
}

// TasksOf returns the tasks a model kind answers with its default
// parameters.
func (info Info) TasksOf() ([]Task, error) {
	m, err := info.New(nil, 0)
	if err != nil {
		return nil, err
	}
	return m.Tasks(), nil
}

// DecodeParams decodes a model's parameters into p, which holds the
// defaults, rejecting unknown fields.
func DecodeParams(name string, params json.RawMessage, p any) error {
	if len(params) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(params))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return fmt.Errorf("%s parameters: %w", name, err)
	}
	return nil
}

// CheckIndices returns an error naming the first index of items outside
// [0, n).
func CheckIndices(items []int32, n int) error {
	for k, i := range items {
		if i < 0 || int(i) >= n {
			return fmt.Errorf("history item %d (index %d) is outside the catalog of %d", k, i, n)
		}
	}
	return nil
}

// CheckQuery checks the indices of a query against a catalog of n items:
// its item (for TaskSimilar) and its history.
func CheckQuery(name string, q *Query, n int) error {
	if q.Task == TaskSimilar && (q.Item < 0 || int(q.Item) >= n) {
		return fmt.Errorf("%s: item %d is outside the catalog of %d", name, q.Item, n)
	}
	for k := range q.History {
		if i := q.History[k].Item; i < 0 || int(i) >= n {
			return fmt.Errorf("%s: history item %d (index %d) is outside the catalog of %d", name, k, i, n)
		}
	}
	for k := range q.Purchases {
		if i := q.Purchases[k].Item; i < 0 || int(i) >= n {
			return fmt.Errorf("%s: purchase %d (index %d) is outside the catalog of %d", name, k, i, n)
		}
	}
	return nil
}

// TaskNames joins tasks for messages.
func TaskNames(ts []Task) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// ExplainerOf returns the model's Explainer: its own, or that of the
// matrix model inside.
func ExplainerOf(m Model) (Explainer, bool) {
	if ex, ok := m.(Explainer); ok {
		return ex, true
	}
	if mx, ok := AsMatrix(m); ok {
		ex, ok := mx.(Explainer)
		return ex, ok
	}
	return nil, false
}
