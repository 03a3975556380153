package gen

import (
	"math"
	"slices"
	"strconv"
)

// evKind is what an ExperienceEvent records.
type evKind uint8

const (
	evPageView evKind = iota
	evProductView
	evAdd
	evRemove
	evCheckout
	evPurchase
	evAbandon
)

// eventTypes are the XDM eventType of each kind. XDM has no eventType for
// an abandoned cart: it is a removal of the cart's lines, flagged with
// commerce.cartAbandons and metrics.commerce.abandons (which Adobe's
// preview example queries).
var eventTypes = [...]string{
	evPageView:    "web.webpagedetails.pageViews",
	evProductView: "commerce.productViews",
	evAdd:         "commerce.productListAdds",
	evRemove:      "commerce.productListRemovals",
	evCheckout:    "commerce.checkouts",
	evPurchase:    "commerce.purchases",
	evAbandon:     "commerce.productListRemovals",
}

// Pages a page view can be of.
const (
	pageHome = iota
	pageCategory
	pageSearch
)

// event is one ExperienceEvent before it is written.
type event struct {
	kind   evKind
	page   uint8 // page views: pageHome, pageCategory or pageSearch
	arg    int32 // category, search term or product index
	qty    int32 // adds and removals
	lines  int32 // checkouts, purchases, abandons: the cart, w.items[lines:lines+nlines]
	nlines int32
	order  int32 // purchases: the profile's order number
	at     int64 // Unix ms; an offset in the session until placed
}

// line is a cart line.
type line struct{ product, qty int32 }

// session is a visit: its first event and how long it lasted.
type session struct {
	first      int
	start, dur int64
}

// The funnel, per session; see session.
const (
	inactiveShare   = 0.1            // profiles with no events at all
	lapsedShare     = 0.15           // stopped visiting months ago
	newShare        = 0.15           // started visiting recently
	recencySkew     = 1.6            // > 1 puts more sessions near the end of the window
	sessionGap      = 30 * 60 * 1000 // ms between sessions, at least
	favouriteShare  = 0.6            // product views in the profile's favourite category
	browseMore      = 0.6            // chance of viewing one more product
	maxViews        = 12
	categoryHop     = 0.3 // a category page between two product views
	addRate         = 0.15
	removeRate      = 0.08
	checkoutRate    = 0.5
	purchaseRate    = 0.75
	abandonDetected = 0.75 // unpurchased carts flagged as abandoned
)

const (
	dayMillis  = 24 * 3600 * 1000
	yearMillis = 365 * dayMillis
)

// makeEvents draws the events of w.p into w.events, in timestamp order,
// from the profile's own event stream.
func (w *worker) makeEvents() {
	k := &w.g.keys
	r := &w.r
	i := uint64(w.p.i)
	r.seed(mix64(i^k.eventA), mix64(i^k.eventB))
	w.events, w.items, w.sess = w.events[:0], w.items[:0], w.sess[:0]
	if r.chance(inactiveShare) {
		return
	}
	n := r.poisson(w.g.cfg.EventsPerProfile / (1 - inactiveShare) * r.gamma2())
	if n == 0 {
		return
	}
	favourite := r.intn(len(categories))
	propensity := tierPropensity[w.p.tier+1]
	orders := int32(0)
	for len(w.events) < n {
		first := len(w.events)
		dur := w.session(favourite, propensity, &orders)
		w.sess = append(w.sess, session{first: first, dur: dur})
	}
	// Sessions are built whole; the last one is cut to make n events.
	w.events = w.events[:n]
	w.place()
}

// place spreads the sessions over the profile's active window, later ones
// more densely, and turns event offsets into times.
func (w *worker) place() {
	r := &w.r
	now := w.g.now.UnixMilli()
	from, to := now-yearMillis, now
	switch x := r.float(); {
	case x < lapsedShare:
		to = now - int64(r.between(30, 270))*dayMillis
	case x < lapsedShare+newShare:
		from = now - int64(r.between(14, 150))*dayMillis
	}
	span := float64(to - from)
	w.starts = w.starts[:0]
	for range w.sess {
		t := to - int64(span*math.Pow(r.float(), recencySkew))
		w.starts = append(w.starts, w.atLocalHour(t, from, to))
	}
	slices.Sort(w.starts)
	// Fit from the last session back so sessions never overlap and none
	// ends after the window.
	limit := to
	for s := len(w.sess) - 1; s >= 0; s-- {
		start := min(w.starts[s], limit-w.sess[s].dur)
		w.sess[s].start = start
		limit = start - sessionGap
	}
	for s := range w.sess {
		end := len(w.events)
		if s+1 < len(w.sess) {
			end = w.sess[s+1].first
		}
		for j := w.sess[s].first; j < end; j++ {
			w.events[j].at += w.sess[s].start
		}
	}
}

// hourWeights is when shoppers visit, by local hour: little at night,
// most in the evening.
var hourWeights = []int32{2, 1, 1, 1, 1, 2, 3, 5, 6, 6, 6, 7, 8, 7, 7, 7, 7, 8, 9, 11, 12, 11, 8, 4}

// atLocalHour moves t within its local day to an hour drawn from
// hourWeights, staying in [from, to].
func (w *worker) atLocalHour(t, from, to int64) int64 {
	r := &w.r
	off := w.p.country.utcOffset * 3600 * 1000
	day := (t + off) / dayMillis * dayMillis
	t = day + int64(r.pick(hourWeights))*3600*1000 + int64(r.intn(3600*1000)) - off
	if t > to {
		t -= dayMillis
	}
	if t < from {
		t += dayMillis
	}
	return t
}

// session appends one visit's events with offsets from its start and
// returns its length: a landing page, product views with category pages
// between them, cart adds, and for a non-empty cart a checkout and
// purchase or an abandon.
func (w *worker) session(favourite int, propensity float64, orders *int32) int64 {
	r := &w.r
	w.cart = w.cart[:0]
	var t int64
	switch x := r.intn(100); {
	case x < 50:
		w.events = append(w.events, event{kind: evPageView, page: pageHome, at: t})
	case x < 85:
		w.events = append(w.events, event{kind: evPageView, page: pageCategory, arg: w.pickCategory(favourite), at: t})
	default:
		w.events = append(w.events, event{kind: evPageView, page: pageSearch, arg: int32(r.intn(len(searchTerms))), at: t})
	}
	views := 1 + r.geometric(1-browseMore, maxViews-1)
	for v := range views {
		if v > 0 && r.chance(categoryHop) {
			t += seconds(r, 5, 60)
			w.events = append(w.events, event{kind: evPageView, page: pageCategory, arg: w.pickCategory(favourite), at: t})
		}
		t += seconds(r, 8, 90)
		prod := w.pickProduct(favourite)
		w.events = append(w.events, event{kind: evProductView, arg: prod, at: t})
		if r.chance(min(0.5, addRate*propensity)) {
			t += seconds(r, 5, 40)
			qty := int32(1)
			if x := r.intn(100); x >= 95 {
				qty = 3
			} else if x >= 80 {
				qty = 2
			}
			w.events = append(w.events, event{kind: evAdd, arg: prod, qty: qty, at: t})
			w.addToCart(prod, qty)
		}
	}
	if len(w.cart) >= 2 && r.chance(removeRate) {
		t += seconds(r, 10, 60)
		l := r.intn(len(w.cart))
		w.events = append(w.events, event{kind: evRemove, arg: w.cart[l].product, qty: w.cart[l].qty, at: t})
		w.cart = slices.Delete(w.cart, l, l+1)
	}
	if len(w.cart) == 0 {
		return t
	}
	if r.chance(min(0.9, checkoutRate*propensity)) {
		t += seconds(r, 20, 180)
		w.events = append(w.events, w.cartEvent(evCheckout, t))
		if r.chance(purchaseRate) {
			t += seconds(r, 60, 300)
			e := w.cartEvent(evPurchase, t)
			e.order = *orders
			*orders++
			w.events = append(w.events, e)
			return t
		}
	}
	if r.chance(abandonDetected) {
		t += seconds(r, 30*60, 120*60) // carts are declared abandoned after a while
		w.events = append(w.events, w.cartEvent(evAbandon, t))
	}
	return t
}

// seconds returns a random duration in [lo, hi] seconds, in milliseconds.
func seconds(r *rng, lo, hi int) int64 {
	return int64(r.between(lo*1000, hi*1000))
}

func (w *worker) pickCategory(favourite int) int32 {
	if w.r.chance(favouriteShare) {
		return int32(favourite)
	}
	return int32(w.r.intn(len(categories)))
}

func (w *worker) pickProduct(favourite int) int32 {
	if w.r.chance(favouriteShare) {
		c := catByCategory[favourite]
		return int32(c[0] + w.r.intn(c[1]-c[0]))
	}
	return int32(w.r.intn(len(catalog)))
}

func (w *worker) addToCart(prod, qty int32) {
	for l := range w.cart {
		if w.cart[l].product == prod {
			w.cart[l].qty += qty
			return
		}
	}
	w.cart = append(w.cart, line{prod, qty})
}

// cartEvent returns an event of kind carrying a snapshot of the cart.
func (w *worker) cartEvent(kind evKind, at int64) event {
	e := event{kind: kind, lines: int32(len(w.items)), nlines: int32(len(w.cart)), at: at}
	w.items = append(w.items, w.cart...)
	return e
}

// appendEvents draws w.p's events and appends them, one a line, to dst.
func (w *worker) appendEvents(dst []byte) ([]byte, int) {
	w.makeEvents()
	for j := range w.events {
		dst = w.appendEvent(dst, j, &w.events[j])
	}
	return dst, len(w.events)
}

// appendEvent appends event j of w.p as an XDM ExperienceEvent record.
func (w *worker) appendEvent(dst []byte, j int, e *event) []byte {
	k := &w.g.keys
	i := uint64(w.p.i)
	dst = append(dst, `{"_id":"`...)
	// The high half is a bijection of the profile, the low half of the
	// event number within it: ids are unique by construction.
	dst = appendUUID(dst, mix64(i^k.eventID), mix64(uint64(j)^mix64(i^k.eventSeq)))
	dst = append(dst, `","timestamp":"`...)
	dst = appendTimestamp(dst, e.at)
	dst = append(dst, `","eventType":"`...)
	dst = append(dst, eventTypes[e.kind]...)
	dst = append(dst, `","identityMap":{"ECID":[{"id":"`...)
	dst = w.appendECID(dst)
	dst = append(dst, `","authenticatedState":"ambiguous","primary":true}]},"web":{"webPageDetails":{"name":`...)
	dst = w.appendPage(dst, e)
	dst = append(dst, `}}`...)
	c := w.p.country
	switch e.kind {
	case evProductView:
		dst = appendItems(dst, c, []line{{e.arg, 1}})
		dst = append(dst, `,"commerce":{"productViews":{"value":1}}`...)
	case evAdd:
		dst = appendItems(dst, c, []line{{e.arg, e.qty}})
		dst = append(dst, `,"commerce":{"productListAdds":{"value":1}}`...)
	case evRemove:
		dst = appendItems(dst, c, []line{{e.arg, e.qty}})
		dst = append(dst, `,"commerce":{"productListRemovals":{"value":1}}`...)
	case evCheckout:
		dst = appendItems(dst, c, w.items[e.lines:e.lines+e.nlines])
		dst = append(dst, `,"commerce":{"checkouts":{"value":1}}`...)
	case evPurchase:
		lines := w.items[e.lines : e.lines+e.nlines]
		dst = appendItems(dst, c, lines)
		dst = append(dst, `,"commerce":{"order":{"purchaseID":"`...)
		// A bijection of (profile, order number): unique while a
		// profile has fewer than 2^24 orders.
		dst = appendHex(dst, mix64((i<<24|uint64(e.order))^k.order), 16)
		dst = append(dst, `","priceTotal":`...)
		var total int64
		for _, l := range lines {
			total += priceIn(catalog[l.product].usdCents, c.rate) * int64(l.qty)
		}
		dst = appendCents(dst, total)
		dst = append(dst, `,"currencyCode":"`...)
		dst = append(dst, c.currency...)
		dst = append(dst, `"},"purchases":{"value":1}}`...)
	case evAbandon:
		dst = appendItems(dst, c, w.items[e.lines:e.lines+e.nlines])
		dst = append(dst, `,"commerce":{"productListRemovals":{"value":1},"cartAbandons":{"value":1}},"metrics":{"commerce":{"abandons":{"value":1}}}`...)
	}
	return append(dst, "}\n"...)
}

// appendPage appends the page's name (a JSON string) and its URL, plus a
// page view count on page views.
func (w *worker) appendPage(dst []byte, e *event) []byte {
	var name, url, query string
	switch e.kind {
	case evPageView:
		switch e.page {
		case pageHome:
			name, url = "Home", homeURL
		case pageCategory:
			name, url = categories[e.arg].name, categories[e.arg].url
		default:
			name, url, query = "Search Results", searchURL, searchTerms[e.arg]
		}
	case evProductView, evAdd:
		name, url = catalog[e.arg].name, catalog[e.arg].url
	case evRemove, evAbandon:
		name, url = "Cart", cartURL
	case evCheckout:
		name, url = "Checkout", checkoutURL
	case evPurchase:
		name, url = "Order Confirmation", confirmURL
	}
	dst = appendString(dst, name)
	dst = append(dst, `,"URL":"`...)
	dst = appendEscaped(dst, url)
	dst = appendEscaped(dst, query)
	dst = append(dst, '"')
	if e.kind == evPageView {
		dst = append(dst, `,"pageViews":{"value":1}`...)
	}
	return dst
}

// appendItems appends productListItems for cart lines, priced in the
// profile's currency.
func appendItems(dst []byte, c *country, lines []line) []byte {
	dst = append(dst, `,"productListItems":[`...)
	for n, l := range lines {
		if n > 0 {
			dst = append(dst, ',')
		}
		p := &catalog[l.product]
		dst = append(dst, `{"SKU":"`...)
		dst = append(dst, p.sku...)
		dst = append(dst, `","name":`...)
		dst = appendString(dst, p.name)
		dst = append(dst, `,"quantity":`...)
		dst = strconv.AppendInt(dst, int64(l.qty), 10)
		dst = append(dst, `,"priceTotal":`...)
		dst = appendCents(dst, priceIn(p.usdCents, c.rate)*int64(l.qty))
		dst = append(dst, `,"currencyCode":"`...)
		dst = append(dst, c.currency...)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}
