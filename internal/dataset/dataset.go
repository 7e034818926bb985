// Package dataset is the one form in which Tailor's models and evaluation
// protocols see a shop's data: events by dense user and item indices, the
// catalog by item index, and the views models fit on (the training matrix,
// orders, purchases), each built once, on first use, and shared by every
// model fitted on the dataset.
//
// A dataset is loaded from an import format or a store (Load, FromStore),
// or made from events (FromEvents); protocols derive the training parts of
// their folds from it (Select for a new index space, Derive within the
// same one).
package dataset

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tailorhq/tailor"
	"github.com/tailorhq/tailor/internal/feature"
)

// Event is one event of a dataset, by dense indices.
type Event struct {
	// User is the shopper's index; −1 for an anonymous shopper (Session
	// then names the session).
	User int32
	// Session is the index of the event's session id; −1 when it has
	// none.
	Session int32
	Item    int32
	// Order is the index of the event's order id; −1 when it has none.
	Order int32
	// Kind is the event's type (Dataset.Types names it).
	Kind Kind
	// Value is the rating or quantity, Price the unit price; NaN when not
	// given.
	Value, Price float64
	// Time is when it happened, in Unix nanoseconds.
	Time int64
}

// Kind is an event type's code in a dataset. The built-in types have fixed
// codes, in the order of tailor.BuiltinEventTypes; custom types take the
// next ones. Events hold codes rather than strings so that a dataset's
// events hold no pointers (the garbage collector skips them).
type Kind uint16

// The codes of the built-in types.
const (
	KindView Kind = iota
	KindClick
	KindAddToCart
	KindRemoveFromCart
	KindPurchase
	KindReturn
	KindRating
)

// At returns the event's time.
func (e *Event) At() time.Time { return time.Unix(0, e.Time).UTC() }

// HasValue reports whether the event has a value.
func (e *Event) HasValue() bool { return !math.IsNaN(e.Value) }

// Rows says what the rows of a dataset's training matrix are.
type Rows int

const (
	// ByUser makes a row of each user's events (anonymous events are left
	// out): the weight of a (user, item) pair is its number of events,
	// its time the latest.
	ByUser Rows = iota
	// ByOrder makes a row of each order (its purchase lines, each item
	// once, weight 1): what basket and session models learn from.
	ByOrder
)

// Dataset is a shop's events and catalog over one index space. Its fields
// are read-only once it is made; its views are built on first use and are
// safe for concurrent use.
type Dataset struct {
	// Format and Path are where a loaded dataset came from ("store" for a
	// store); empty for derived ones.
	Format, Path string
	// Users and Items name the indices: Users[u] is the id of user u.
	Users, Items []string
	// Catalog holds the record of each item index; an item the data has
	// no record of has only its ID.
	Catalog []tailor.Item
	// Events are in the order read (for a store, time order).
	Events []Event
	// OrderIDs and SessionIDs name the order and session indices.
	OrderIDs, SessionIDs []string
	// Types names the event kinds: Types[k] is the type of kind k.
	Types []tailor.EventType

	rows  Rows
	views *views
}

// views are what a dataset builds on first use.
type views struct {
	userOnce, itemOnce sync.Once
	userOf, itemOf     map[string]int32

	matrixOnce sync.Once
	matrix     *feature.Dataset
	matrixErr  error

	ordersOnce sync.Once
	orders     *Orders

	purchOnce sync.Once
	purch     *Purchases
}

// Type returns an event's type.
func (d *Dataset) Type(e *Event) tailor.EventType { return d.Types[e.Kind] }

// KindOf returns the kind of an event type, and false when no event of
// the dataset has it.
func (d *Dataset) KindOf(t tailor.EventType) (Kind, bool) {
	for k, x := range d.Types {
		if x == t {
			return Kind(k), true
		}
	}
	return 0, false
}

// NumUsers returns the number of user indices.
func (d *Dataset) NumUsers() int { return len(d.Users) }

// NumItems returns the number of item indices.
func (d *Dataset) NumItems() int { return len(d.Items) }

// RowKind says what the rows of Matrix are.
func (d *Dataset) RowKind() Rows { return d.rows }

// UserIndex returns the index of a user id.
func (d *Dataset) UserIndex(id string) (int32, bool) {
	d.views.userOnce.Do(func() { d.views.userOf = indexOf(d.Users) })
	u, ok := d.views.userOf[id]
	return u, ok
}

// ItemIndex returns the index of an item id.
func (d *Dataset) ItemIndex(id string) (int32, bool) {
	d.views.itemOnce.Do(func() { d.views.itemOf = indexOf(d.Items) })
	i, ok := d.views.itemOf[id]
	return i, ok
}

func indexOf(ids []string) map[string]int32 {
	m := make(map[string]int32, len(ids))
	for i, id := range ids {
		m[id] = int32(i)
	}
	return m
}

// NonProduct reports whether item i is a fee, postage or another line that
// is not a product.
func (d *Dataset) NonProduct(i int32) bool { return d.Catalog[i].NonProduct }

// Categories returns the categories of the item with the id (nil when it
// has none or is unknown).
func (d *Dataset) Categories(id string) []string {
	if i, ok := d.ItemIndex(id); ok {
		return d.Catalog[i].Categories
	}
	return nil
}

// Matrix returns the training matrix (see Rows), built on first use. Its
// item indices are the dataset's; its rows are the dataset's users
// (ByUser) or its orders in the order of Orders (ByOrder).
func (d *Dataset) Matrix() (*feature.Dataset, error) {
	v := d.views
	v.matrixOnce.Do(func() {
		if v.matrix != nil {
			return // given by Derive
		}
		v.matrix, v.matrixErr = d.buildMatrix()
	})
	return v.matrix, v.matrixErr
}

func (d *Dataset) buildMatrix() (*feature.Dataset, error) {
	var xs []feature.Interaction
	rows := d.Users
	switch d.rows {
	case ByUser:
		xs = make([]feature.Interaction, 0, len(d.Events))
		for k := range d.Events {
			e := &d.Events[k]
			if e.User >= 0 {
				xs = append(xs, feature.Interaction{User: e.User, Item: e.Item, Weight: 1, Time: e.Time / 1e9})
			}
		}
	case ByOrder:
		o := d.Orders()
		rows = make([]string, o.Len())
		for k := range rows {
			rows[k] = d.OrderIDs[o.ID[k]]
			for _, i := range o.Items(k) {
				xs = append(xs, feature.Interaction{User: int32(k), Item: i, Weight: 1, Time: o.Time[k] / 1e9})
			}
		}
	default:
		return nil, fmt.Errorf("dataset: unknown row kind %d", d.rows)
	}
	m, err := feature.Build(rows, d.Items, xs)
	if err != nil {
		return nil, fmt.Errorf("dataset: training matrix: %w", err)
	}
	return m, nil
}

// Orders are the purchase lines of a dataset grouped by order id, in time
// order (of each order's first line; ties by order id), each order's items
// distinct and in the order of its lines.
type Orders struct {
	// Start delimits the orders: order k holds Item[Start[k]:Start[k+1]].
	Start []int32
	Item  []int32
	// ID is each order's index in the dataset's OrderIDs, Time the time of
	// its first line (Unix nanoseconds), User its shopper (−1 anonymous).
	ID   []int32
	Time []int64
	User []int32
}

// Len returns the number of orders.
func (o *Orders) Len() int { return len(o.ID) }

// Items returns order k's items. The slice aliases o.
func (o *Orders) Items(k int) []int32 { return o.Item[o.Start[k]:o.Start[k+1]] }

// Orders returns the orders of the dataset's purchase events (lines without
// an order id are left out), built on first use.
func (d *Dataset) Orders() *Orders {
	d.views.ordersOnce.Do(func() { d.views.orders = d.buildOrders() })
	return d.views.orders
}

func (d *Dataset) buildOrders() *Orders {
	type order struct {
		id    int32
		time  int64
		user  int32
		items []int32
	}
	byID := map[int32]*order{}
	for k := range d.Events {
		e := &d.Events[k]
		if e.Kind != KindPurchase || e.Order < 0 {
			continue
		}
		o := byID[e.Order]
		if o == nil {
			o = &order{id: e.Order, time: e.Time, user: e.User}
			byID[e.Order] = o
		}
		if !slices.Contains(o.items, e.Item) {
			o.items = append(o.items, e.Item)
		}
	}
	all := make([]*order, 0, len(byID))
	for _, o := range byID {
		all = append(all, o)
	}
	slices.SortFunc(all, func(a, b *order) int {
		return cmp.Or(cmp.Compare(a.time, b.time), cmp.Compare(d.OrderIDs[a.id], d.OrderIDs[b.id]))
	})
	out := &Orders{Start: make([]int32, 1, len(all)+1)}
	for _, o := range all {
		out.Item = append(out.Item, o.items...)
		out.Start = append(out.Start, int32(len(out.Item)))
		out.ID = append(out.ID, o.id)
		out.Time = append(out.Time, o.time)
		out.User = append(out.User, o.user)
	}
	return out
}

// Purchases are each user's purchase events, in the order of the dataset's
// events.
type Purchases struct {
	// Start delimits the users: user u's purchases are at
	// [Start[u], Start[u+1]) of Item and Time.
	Start []int32
	Item  []int32
	Time  []int64 // Unix nanoseconds
}

// Of returns user u's purchased items and their times. The slices alias p.
func (p *Purchases) Of(u int32) ([]int32, []int64) {
	lo, hi := p.Start[u], p.Start[u+1]
	return p.Item[lo:hi], p.Time[lo:hi]
}

// Purchases returns each user's purchases, built on first use.
func (d *Dataset) Purchases() *Purchases {
	d.views.purchOnce.Do(func() {
		p := &Purchases{Start: make([]int32, len(d.Users)+1)}
		for k := range d.Events {
			if e := &d.Events[k]; e.Kind == KindPurchase && e.User >= 0 {
				p.Start[e.User+1]++
			}
		}
		for u := range d.Users {
			p.Start[u+1] += p.Start[u]
		}
		n := p.Start[len(d.Users)]
		p.Item, p.Time = make([]int32, n), make([]int64, n)
		next := slices.Clone(p.Start[:len(d.Users)])
		for k := range d.Events {
			if e := &d.Events[k]; e.Kind == KindPurchase && e.User >= 0 {
				at := next[e.User]
				p.Item[at], p.Time[at] = e.Item, e.Time
				next[e.User]++
			}
		}
		d.views.purch = p
	})
	return d.views.purch
}

// Derive returns a dataset over the same index space and catalog holding
// the given events (which must use d's indices), with rows of the given
// kind. matrix, if not nil, is its training matrix (with d's item indices)
// instead of one built from the events: protocols that split
// (user, item) pairs rather than events give theirs.
func (d *Dataset) Derive(events []Event, rows Rows, matrix *feature.Dataset) *Dataset {
	out := &Dataset{Users: d.Users, Items: d.Items, Catalog: d.Catalog, Events: events, OrderIDs: d.OrderIDs, SessionIDs: d.SessionIDs,
		Types: d.Types, rows: rows, views: &views{matrix: matrix}}
	if matrix == nil {
		return out
	}
	out.views.matrixOnce.Do(func() {})
	return out
}

// Subset returns the dataset of d's events that keep returns true for,
// over d's index space, with rows of the given kind.
func (d *Dataset) Subset(keep func(*Event) bool, rows Rows) *Dataset {
	var events []Event
	for k := range d.Events {
		if keep(&d.Events[k]) {
			events = append(events, d.Events[k])
		}
	}
	return d.Derive(events, rows, nil)
}

// IndexOrder says how Select numbers users and items.
type IndexOrder int

const (
	// FirstSeen numbers users and items in the order of their first kept
	// event.
	FirstSeen IndexOrder = iota
	// ByID numbers them in the order of their ids, so that ties broken
	// by index are broken by id.
	ByID
)

// SelectOptions say what Select keeps and how it numbers it.
type SelectOptions struct {
	// Keep, if not nil, keeps only the events it returns true for.
	Keep func(*Event) bool
	// Order is the numbering of the new index space.
	Order IndexOrder
	// Catalog, when set, also gives an index to every item of d without
	// a kept event (after the others under FirstSeen).
	Catalog bool
	// Rows is the kind of the training matrix's rows.
	Rows Rows
}

// Select returns a dataset of the events opts keeps, over a new index
// space of the users and items they mention (and, with opts.Catalog, the
// whole catalog). Order and session ids keep their indices.
func (d *Dataset) Select(opts SelectOptions) *Dataset {
	userMap := make([]int32, len(d.Users))
	itemMap := make([]int32, len(d.Items))
	for i := range userMap {
		userMap[i] = -1
	}
	for i := range itemMap {
		itemMap[i] = -1
	}
	var users, items []int32 // old indices, in new order
	var events []Event
	for k := range d.Events {
		e := &d.Events[k]
		if opts.Keep != nil && !opts.Keep(e) {
			continue
		}
		if e.User >= 0 && userMap[e.User] < 0 {
			userMap[e.User] = int32(len(users))
			users = append(users, e.User)
		}
		if itemMap[e.Item] < 0 {
			itemMap[e.Item] = int32(len(items))
			items = append(items, e.Item)
		}
		events = append(events, *e)
	}
	if opts.Catalog {
		for i := range d.Items {
			if itemMap[i] < 0 {
				itemMap[i] = int32(len(items))
				items = append(items, int32(i))
			}
		}
	}
	if opts.Order == ByID {
		slices.SortFunc(users, func(a, b int32) int { return cmp.Compare(d.Users[a], d.Users[b]) })
		slices.SortFunc(items, func(a, b int32) int { return cmp.Compare(d.Items[a], d.Items[b]) })
		for k, u := range users {
			userMap[u] = int32(k)
		}
		for k, i := range items {
			itemMap[i] = int32(k)
		}
	}
	out := &Dataset{OrderIDs: d.OrderIDs, SessionIDs: d.SessionIDs, Types: d.Types, rows: opts.Rows, views: &views{}}
	out.Users = make([]string, len(users))
	for k, u := range users {
		out.Users[k] = d.Users[u]
	}
	out.Items = make([]string, len(items))
	out.Catalog = make([]tailor.Item, len(items))
	for k, i := range items {
		out.Items[k], out.Catalog[k] = d.Items[i], d.Catalog[i]
	}
	for k := range events {
		e := &events[k]
		if e.User >= 0 {
			e.User = userMap[e.User]
		}
		e.Item = itemMap[e.Item]
	}
	out.Events = events
	return out
}

// builder assigns indices while a dataset is read.
type builder struct {
	d                       *Dataset
	users, items, ord, sess map[string]int32
	catalog                 map[tailor.ItemID]tailor.Item
	types                   map[tailor.EventType]Kind
}

func newBuilder() *builder {
	b := &builder{d: &Dataset{rows: ByUser, views: &views{}}, users: map[string]int32{}, items: map[string]int32{},
		ord: map[string]int32{}, sess: map[string]int32{}, catalog: map[tailor.ItemID]tailor.Item{}, types: map[tailor.EventType]Kind{}}
	for _, t := range tailor.BuiltinEventTypes() {
		b.kind(t)
	}
	return b
}

// kind returns an event type's kind, giving a new type the next.
func (b *builder) kind(t tailor.EventType) Kind {
	if k, ok := b.types[t]; ok {
		return k
	}
	k := Kind(len(b.d.Types))
	t = tailor.EventType(strings.Clone(string(t)))
	b.types[t] = k
	b.d.Types = append(b.d.Types, t)
	return k
}

func add(m map[string]int32, ids *[]string, id string) int32 {
	if i, ok := m[id]; ok {
		return i
	}
	id = strings.Clone(id) // not the caller's buffer
	i := int32(len(*ids))
	m[id] = i
	*ids = append(*ids, id)
	return i
}

func num(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// event adds an event.
func (b *builder) event(e *tailor.Event) {
	d := b.d
	x := Event{User: -1, Session: -1, Order: -1, Kind: b.kind(e.Type), Value: num(e.Value), Price: num(e.UnitPrice), Time: e.Timestamp.UnixNano()}
	if e.UserID != "" {
		x.User = add(b.users, &d.Users, string(e.UserID))
	}
	if e.SessionID != "" {
		x.Session = add(b.sess, &d.SessionIDs, e.SessionID)
	}
	x.Item = add(b.items, &d.Items, string(e.ItemID))
	if e.OrderID != "" {
		x.Order = add(b.ord, &d.OrderIDs, e.OrderID)
	}
	d.Events = append(d.Events, x)
}

// finish appends the catalog items no event mentioned (in id order) and
// fills the catalog.
func (b *builder) finish() *Dataset {
	d := b.d
	var rest []string
	for id := range b.catalog {
		if _, ok := b.items[string(id)]; !ok {
			rest = append(rest, string(id))
		}
	}
	slices.Sort(rest)
	for _, id := range rest {
		add(b.items, &d.Items, id)
	}
	d.Catalog = make([]tailor.Item, len(d.Items))
	for i, id := range d.Items {
		it, ok := b.catalog[tailor.ItemID(id)]
		if !ok {
			it = tailor.Item{ID: tailor.ItemID(id)}
		}
		d.Catalog[i] = it
	}
	return d
}

// FromEvents makes a dataset of events and a catalog. Users and items are
// numbered in the order of their first event; catalog items without events
// come after, in id order.
func FromEvents(events []tailor.Event, catalog []tailor.Item) *Dataset {
	b := newBuilder()
	for i := range catalog {
		b.catalog[catalog[i].ID] = catalog[i]
	}
	b.d.Events = make([]Event, 0, len(events))
	for i := range events {
		b.event(&events[i])
	}
	return b.finish()
}

// FromMatrix makes a dataset over the index space of a prepared training
// matrix (see feature.Prepare): its events are those of events whose user
// and item the matrix has, and its training matrix is m.
func FromMatrix(m *feature.Dataset, events []tailor.Event, catalog []tailor.Item) *Dataset {
	b := newBuilder()
	d := &Dataset{Users: m.Users, Items: m.Items, rows: ByUser, views: &views{matrix: m}, Types: b.d.Types}
	b.d = d
	d.views.matrixOnce.Do(func() {})
	users, items := indexOf(m.Users), indexOf(m.Items)
	ord, sess := map[string]int32{}, map[string]int32{}
	for i := range events {
		e := &events[i]
		u, ok1 := users[string(e.UserID)]
		it, ok2 := items[string(e.ItemID)]
		if !ok1 || !ok2 {
			continue
		}
		x := Event{User: u, Session: -1, Item: it, Order: -1, Kind: b.kind(e.Type), Value: num(e.Value), Price: num(e.UnitPrice), Time: e.Timestamp.UnixNano()}
		if e.SessionID != "" {
			x.Session = add(sess, &d.SessionIDs, e.SessionID)
		}
		if e.OrderID != "" {
			x.Order = add(ord, &d.OrderIDs, e.OrderID)
		}
		d.Events = append(d.Events, x)
	}
	byID := make(map[tailor.ItemID]*tailor.Item, len(catalog))
	for i := range catalog {
		byID[catalog[i].ID] = &catalog[i]
	}
	d.Catalog = make([]tailor.Item, len(d.Items))
	for i, id := range d.Items {
		if it := byID[tailor.ItemID(id)]; it != nil {
			d.Catalog[i] = *it
		} else {
			d.Catalog[i] = tailor.Item{ID: tailor.ItemID(id)}
		}
	}
	return d
}
