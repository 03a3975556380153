package pql

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// sexpr renders a tree as an S-expression that shows every field of every
// node except positions, so two trees are structurally equal exactly when
// their S-expressions are equal:
//
//	Literal      "CA"  1985  3.14  1.0  true  null
//	Implicit     $implicit
//	Param        $1
//	Var          (var S)
//	Up           ^^
//	Field        (. X name)
//	Method       (.name X args...)
//	Call         (call name args...)
//	Filter       ([] X cond)
//	Unary        (not X)  (neg X)
//	Binary       (op X Y)
//	ArrayLit     [a b c]
//	ObjectLit    {"k":v "k2":v2}
//	Lambda       (lambda (A B) body)
//	Let          (let S value body)
//	Quantifier   (exists (V source cond) ...)  (forall ...); a nil cond is _
//	Select       (select V source cond)
//	Aggregate    (sum expr V source cond)
//	Occurs       (occurs X spec)
//	OccursSpec   (< 3 day before T)  (before T)  (on T)  (between T T2)
//	TimeRef      now today yesterday tomorrow (this week) (last day) (next year) or the expression
//	Chain        (chain source timeField (Label (what W) (where W) (when spec) (count N))...)
//
// Names that are not plain identifiers are written `"quoted"`.
func sexpr(n Node) string {
	var b strings.Builder
	writeSexpr(&b, n)
	return b.String()
}

func sxName(s string) string {
	if isPlainIdent(s) {
		return s
	}
	return "`" + strconv.Quote(s)
}

func sxFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEIN") {
		s += ".0"
	}
	return s
}

func writeSexpr(b *strings.Builder, n Node) {
	list := func(head string, parts ...Node) {
		b.WriteString("(" + head)
		for _, p := range parts {
			b.WriteString(" ")
			writeSexpr(b, p)
		}
		b.WriteString(")")
	}
	switch n := n.(type) {
	case nil:
		b.WriteString("_")
	case *Literal:
		switch n.Kind {
		case LitString:
			b.WriteString(strconv.Quote(n.Str))
		case LitInt:
			b.WriteString(strconv.FormatInt(n.Int, 10))
		case LitDouble:
			b.WriteString(sxFloat(n.Float))
		case LitBool:
			b.WriteString(strconv.FormatBool(n.Bool))
		case LitNull:
			b.WriteString("null")
		default:
			b.WriteString("(badliteral " + strconv.Itoa(int(n.Kind)) + ")")
		}
	case *Implicit:
		b.WriteString("$implicit")
	case *Param:
		b.WriteString("$" + strconv.Itoa(n.Index))
	case *Var:
		b.WriteString("(var " + sxName(n.Name) + ")")
	case *Up:
		if n.Levels < 1 {
			b.WriteString("(up " + strconv.Itoa(n.Levels) + ")")
		} else {
			b.WriteString(strings.Repeat("^", n.Levels))
		}
	case *Field:
		b.WriteString("(. ")
		writeSexpr(b, n.X)
		b.WriteString(" " + sxName(n.Name) + ")")
	case *Method:
		list("."+sxName(n.Name), append([]Node{n.X}, n.Args...)...)
	case *Call:
		list("call "+sxName(n.Name), n.Args...)
	case *Filter:
		list("[]", n.X, n.Cond)
	case *Unary:
		op := n.Op
		if op == "-" {
			op = "neg"
		}
		list(op, n.X)
	case *Binary:
		list(n.Op, n.X, n.Y)
	case *ArrayLit:
		b.WriteString("[")
		for i, e := range n.Elems {
			if i > 0 {
				b.WriteString(" ")
			}
			writeSexpr(b, e)
		}
		b.WriteString("]")
	case *ObjectLit:
		b.WriteString("{")
		for i, k := range n.Keys {
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(strconv.Quote(k) + ":")
			if i < len(n.Values) {
				writeSexpr(b, n.Values[i])
			}
		}
		if len(n.Values) != len(n.Keys) {
			b.WriteString(" (badobject)")
		}
		b.WriteString("}")
	case *Lambda:
		names := make([]string, len(n.Params))
		for i, p := range n.Params {
			names[i] = sxName(p)
		}
		b.WriteString("(lambda (" + strings.Join(names, " ") + ") ")
		writeSexpr(b, n.Body)
		b.WriteString(")")
	case *Let:
		b.WriteString("(let " + sxName(n.Name) + " ")
		writeSexpr(b, n.Value)
		b.WriteString(" ")
		writeSexpr(b, n.Body)
		b.WriteString(")")
	case *Quantifier:
		if n.All {
			b.WriteString("(forall")
		} else {
			b.WriteString("(exists")
		}
		for _, bd := range n.Bindings {
			b.WriteString(" (" + sxName(bd.Var) + " ")
			writeSexpr(b, bd.Source)
			b.WriteString(" ")
			writeSexpr(b, bd.Cond)
			b.WriteString(")")
		}
		b.WriteString(")")
	case *Select:
		b.WriteString("(select " + sxName(n.Var) + " ")
		writeSexpr(b, n.Source)
		b.WriteString(" ")
		writeSexpr(b, n.Cond)
		b.WriteString(")")
	case *Aggregate:
		b.WriteString("(" + n.Fn + " ")
		writeSexpr(b, n.Expr)
		b.WriteString(" " + sxName(n.Var) + " ")
		writeSexpr(b, n.Source)
		b.WriteString(" ")
		writeSexpr(b, n.Cond)
		b.WriteString(")")
	case *Occurs:
		b.WriteString("(occurs ")
		writeSexpr(b, n.X)
		b.WriteString(" ")
		writeSpec(b, &n.Spec)
		b.WriteString(")")
	case *Chain:
		b.WriteString("(chain ")
		writeSexpr(b, n.Source)
		b.WriteString(" " + sxName(n.TimeField))
		for _, st := range n.Steps {
			b.WriteString(" (" + sxName(st.Label) + " (what ")
			writeSexpr(b, st.What)
			b.WriteString(")")
			if st.Where != nil {
				b.WriteString(" (where ")
				writeSexpr(b, st.Where)
				b.WriteString(")")
			}
			if st.When != nil {
				b.WriteString(" (when ")
				writeSpec(b, st.When)
				b.WriteString(")")
			}
			if st.Count != 0 {
				b.WriteString(" (count " + strconv.FormatInt(st.Count, 10) + ")")
			}
			b.WriteString(")")
		}
		b.WriteString(")")
	default:
		b.WriteString("(unknown " + reflect.TypeOf(n).String() + ")")
	}
}

func writeSpec(b *strings.Builder, s *OccursSpec) {
	switch s.Form {
	case OccursOffset:
		b.WriteString("(" + s.Op + " " + strconv.FormatInt(s.N, 10) + " " + s.Unit.String() + " " + s.Dir + " ")
		writeTime(b, s.T)
	case OccursDir:
		b.WriteString("(" + s.Dir + " ")
		writeTime(b, s.T)
	case OccursOn:
		b.WriteString("(on ")
		writeTime(b, s.T)
	case OccursBetween:
		b.WriteString("(between ")
		writeTime(b, s.T)
		b.WriteString(" ")
		writeTime(b, s.T2)
	default:
		b.WriteString("(badform " + strconv.Itoa(int(s.Form)))
	}
	b.WriteString(")")
}

func writeTime(b *strings.Builder, t TimeRef) {
	switch t.Kind {
	case TimeNow:
		b.WriteString("now")
	case TimeToday:
		b.WriteString("today")
	case TimeYesterday:
		b.WriteString("yesterday")
	case TimeTomorrow:
		b.WriteString("tomorrow")
	case TimeThis:
		b.WriteString("(this " + t.Unit.String() + ")")
	case TimeLast:
		b.WriteString("(last " + t.Unit.String() + ")")
	case TimeNext:
		b.WriteString("(next " + t.Unit.String() + ")")
	case TimeExpr:
		writeSexpr(b, t.X)
	default:
		b.WriteString("(badtime " + strconv.Itoa(int(t.Kind)) + ")")
	}
}

// sameTree reports whether a and b are the same tree, ignoring positions.
// It compares every field by reflection (independently of sexpr), treating
// nil and empty slices alike and floats by their bits.
func sameTree(a, b Node) bool {
	return sameValue(reflect.ValueOf(a), reflect.ValueOf(b))
}

var posType = reflect.TypeOf(Pos{})

func sameValue(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Interface, reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return sameValue(a.Elem(), b.Elem())
	case reflect.Struct:
		if a.Type() == posType {
			return true
		}
		for i := range a.NumField() {
			if !sameValue(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := range a.Len() {
			if !sameValue(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.String:
		return a.String() == b.String()
	case reflect.Bool:
		return a.Bool() == b.Bool()
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return a.Int() == b.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return a.Uint() == b.Uint()
	case reflect.Float32, reflect.Float64:
		return math.Float64bits(a.Float()) == math.Float64bits(b.Float())
	}
	panic("sameValue: unhandled kind " + a.Kind().String())
}

// exampleTrees is the expected tree of a representative subset of the
// documented examples.
var exampleTrees = []struct{ expr, want string }{
	{`homeAddress.stateProvince = workAddress.stateProvince`,
		`(= (. (. $implicit homeAddress) stateProvince) (. (. $implicit workAddress) stateProvince))`},
	{`$1.homeAddress.stateProvince = $1.homeAddress.stateProvince`,
		`(= (. (. $1 homeAddress) stateProvince) (. (. $1 homeAddress) stateProvince))`},
	{`(Profile) => Profile.homeAddress.stateProvince = Profile.workAddress.stateProvince`,
		`(lambda (Profile) (= (. (. (var Profile) homeAddress) stateProvince) (. (. (var Profile) workAddress) stateProvince)))`},
	{`homeAddress.countryISO = "CA" and person.birthYear = 1985`,
		`(and (= (. (. $implicit homeAddress) countryISO) "CA") (= (. (. $implicit person) birthYear) 1985))`},
	{`not (homeAddress.countryISO = "CA")`,
		`(not (= (. (. $implicit homeAddress) countryISO) "CA"))`},
	{`if (homeAddress.countryISO = "CA", 1, 2)`,
		`(call if (= (. (. $implicit homeAddress) countryISO) "CA") 1 2)`},
	{`person.birthMonth notIn [3, 6, 9]`,
		`(notIn (. (. $implicit person) birthMonth) [3 6 9])`},
	{`person.orders.storeId.distinct().count() > 1`,
		`(> (.count (.distinct (. (. (. $implicit person) orders) storeId))) 1)`},
	{`person.filter(age >= 21)`,
		`(.filter (. $implicit person) (>= (. $implicit age) 21))`},
	{`orders.topN(price, 5).head()`,
		`(.head (.topN (. $implicit orders) (. $implicit price) 5))`},
	{`city like "%es%"`,
		`(like (. $implicit city) "%es%")`},
	{`emailAddress.regexGroup("@(\w+)", 1)`,
		`(.regexGroup (. $implicit emailAddress) "@(\\w+)" 1)`},
	{`person.birthMonth = currentMonth()`,
		`(= (. (. $implicit person) birthMonth) (call currentMonth))`},
	{`product.saleDate occurs last week`,
		`(occurs (. (. $implicit product) saleDate) (on (last week)))`},
	{`product.saleDate occurs between date(2015, 1, 8) and date(2017, 7, 1)`,
		`(occurs (. (. $implicit product) saleDate) (between (call date 2015 1 8) (call date 2017 7 1)))`},
	{`X.timestamp occurs <= 3 days before now`,
		`(occurs (. (. $implicit X) timestamp) (<= 3 day before now))`},
	{`xEvent[productListItems[SKU="PS" or ^^.person.gender="female"]]`,
		`([] (. $implicit xEvent) ([] (. $implicit productListItems) (or (= (. $implicit SKU) "PS") (= (. (. ^^ person) gender) "female"))))`},
	{`forall E from xEvent where (E.commerce.item.price > 50), I from E.productListItems where I.SKU = "PS"`,
		`(forall (E (. $implicit xEvent) (> (. (. (. (var E) commerce) item) price) 50)) (I (. (var E) productListItems) (= (. (var I) SKU) "PS")))`},
	{`let S = (sum X.commerce.order.priceTotal over X from xEvent where X.commerce.order.currencyCode = "USD") in (S > 100 and S < 1000)`,
		`(let S (sum (. (. (. (var X) commerce) order) priceTotal) X (. $implicit xEvent) (= (. (. (. (var X) commerce) order) currencyCode) "USD")) (and (> (var S) 100) (< (var S) 1000)))`},
	{`select var1 from xEvent where var1._experience.analytics.endUser.firstWeb.webPageDetails.isHomePage = true`,
		`(select var1 (. $implicit xEvent) (= (. (. (. (. (. (. (var var1) _experience) analytics) endUser) firstWeb) webPageDetails) isHomePage) true))`},
	{`not(chain(xEvent, timestamp, [A: WHAT(eventType = "homePageView")]))`,
		`(not (chain (. $implicit xEvent) timestamp (A (what (= (. $implicit eventType) "homePageView")))))`},
	{`chain(xEvent, timestamp, [A: WHAT(eventType = "homePageView") WHEN(< 24 hours before now) COUNT(5) ] )`,
		`(chain (. $implicit xEvent) timestamp (A (what (= (. $implicit eventType) "homePageView")) (when (< 24 hour before now)) (count 5)))`},
	{`chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart") WHERE(externalSegmentMapProperty.values().exists(stringProperty="active"))])`,
		`(chain (. $implicit xEvent) timestamp (A (what (= (. $implicit eventType) "addToCart")) (where (.exists (.values (. $implicit externalSegmentMapProperty)) (= (. $implicit stringProperty) "active")))))`},
	{`workAddress.country.equals("US", false) and CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("directMarketing.emailClicked", false)) WHEN(today), C1: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(today)])`,
		`(and (.equals (. (. $implicit workAddress) country) "US" false) (chain (. $implicit xEvent) timestamp (C0 (what (.equals (. $implicit eventType) "directMarketing.emailClicked" false)) (when (on today))) (C1 (what (.equals (. $implicit eventType) "commerce.checkouts" false)) (when (on today)))))`},
	{`xEvent[(timestamp occurs < 7 days before now) and eventType="download" and contentType = "image"].count()`,
		`(.count ([] (. $implicit xEvent) (and (and (occurs (. $implicit timestamp) (< 7 day before now)) (= (. $implicit eventType) "download")) (= (. $implicit contentType) "image"))))`},
	{`xEvent[(commerce.checkouts.value > 0.0 or commerce.purchases.value > 1.0 or commerce.order.priceTotal >= 10.0) and (timestamp occurs <= 7 days before now)].sum(commerce.order.priceTotal)`,
		`(.sum ([] (. $implicit xEvent) (and (or (or (> (. (. (. $implicit commerce) checkouts) value) 0.0) (> (. (. (. $implicit commerce) purchases) value) 1.0)) (>= (. (. (. $implicit commerce) order) priceTotal) 10.0)) (occurs (. $implicit timestamp) (<= 7 day before now)))) (. (. (. $implicit commerce) order) priceTotal))`},
	{`xEvent[(timestamp occurs < 7 days before now) and eventType="download"].groupBy(product).map((K, G) => mapEntry(K, {"count": G.count(), "sum": G.sum(commerce.order.priceTotal)}))`,
		`(.map (.groupBy ([] (. $implicit xEvent) (and (occurs (. $implicit timestamp) (< 7 day before now)) (= (. $implicit eventType) "download"))) (. $implicit product)) (lambda (K G) (call mapEntry (var K) {"count":(.count (var G)) "sum":(.sum (var G) (. (. (. $implicit commerce) order) priceTotal))})))`},
	{`if(homeAddress.countryCode in ["US","MX","CA"], "NA", "ROW")`,
		`(call if (in (. (. $implicit homeAddress) countryCode) ["US" "MX" "CA"]) "NA" "ROW")`},
}

func TestParseExamples(t *testing.T) {
	want := map[string]string{}
	for _, tt := range exampleTrees {
		want[tt.expr] = tt.want
	}
	checked := map[string]bool{}
	for _, ex := range loadExamples(t) {
		q, err := Parse(ex.expr)
		if err != nil {
			t.Errorf("example %s (%s): Parse(%q): %v", ex.ref, ex.source, ex.expr, err)
			continue
		}
		if q.Source != ex.expr {
			t.Errorf("Parse(%q).Source = %q", ex.expr, q.Source)
		}
		if w, ok := want[ex.expr]; ok {
			checked[ex.expr] = true
			if got := sexpr(q.Root); got != w {
				t.Errorf("example %s: Parse(%q)\n got %s\nwant %s", ex.ref, ex.expr, got, w)
			}
		}
	}
	for _, tt := range exampleTrees {
		if !checked[tt.expr] {
			t.Errorf("exampleTrees has %q, which is not in testdata/pql-examples.txt", tt.expr)
		}
	}
}

// parseTreeTests are queries and the tree each parses to.
var parseTreeTests = []struct {
	in, want string
}{
	// Implicit and explicit parameters.
	{`homeAddress.stateProvince = "CA"`, `(= (. (. $implicit homeAddress) stateProvince) "CA")`},
	{`$1.a = $2`, `(= (. $1 a) $2)`},
	{`$01.x`, `(. $1 x)`},
	{`$64`, `$64`},

	// Lambdas and the variables they bind; a member name is never a variable.
	{`(Profile) => Profile.a = b`, `(lambda (Profile) (= (. (var Profile) a) (. $implicit b)))`},
	{`(K, G) => mapEntry(K, G.count())`, `(lambda (K G) (call mapEntry (var K) (.count (var G))))`},
	{`(a, b) => (c) => a + b + c`, `(lambda (a b) (lambda (c) (+ (+ (var a) (var b)) (var c))))`},
	{`(x) => x.x`, `(lambda (x) (. (var x) x))`},
	{`(x) => a[^x]`, `(lambda (x) ([] (. $implicit a) (. ^ x)))`},
	{"(`a b`) => `a b`.c", "(lambda (`\"a b\") (. (var `\"a b\") c))"},
	{`(true) => true`, `(lambda (true) true)`},
	{`orders.map((o) => o.x).count() > 0 and o`, `(and (> (.count (.map (. $implicit orders) (lambda (o) (. (var o) x)))) 0) (. $implicit o))`},
	{`orders.topN((o) => o.price, 5)`, `(.topN (. $implicit orders) (lambda (o) (. (var o) price)) 5)`},
	{`x = ((a) => b)`, `(= (. $implicit x) (lambda (a) (. $implicit b)))`},
	{`((a) => a).x`, `(. (lambda (a) (var a)) x)`},

	// let binds its name in the body only; "in" ends the value.
	{`let x = (x) in (x)`, `(let x (. $implicit x) (var x))`},
	{`let x = a in x`, `(let x (. $implicit a) (var x))`},
	{`let x = 1 in let y = x in x + y`, `(let x 1 (let y (var x) (+ (var x) (var y))))`},
	{`let x = (a in b) in x in c`, `(let x (in (. $implicit a) (. $implicit b)) (in (var x) (. $implicit c)))`},
	{`let x = a[b in c] in x`, `(let x ([] (. $implicit a) (in (. $implicit b) (. $implicit c))) (var x))`},
	{`let x = exists a from b where c in d in e`, `(let x (exists (a (. $implicit b) (. $implicit c))) (in (. $implicit d) (. $implicit e)))`},
	{`let S = sum X.a over X from xEvent where X.b in S > 1`, `(let S (sum (. (var X) a) X (. $implicit xEvent) (. (var X) b)) (> (var S) 1))`},
	{`Let x = (1) In (x)`, `(let x 1 (var x))`},

	// exists/forall: several bindings, "where" or ":", each variable bound
	// from its own condition on and in the bindings after it.
	{`exists E from E where E`, `(exists (E (. $implicit E) (var E)))`},
	{`exists E from xEvent, I from E.items: I.x = E.y`, `(exists (E (. $implicit xEvent) _) (I (. (var E) items) (= (. (var I) x) (. (var E) y))))`},
	{`forall E from xEvent: E.a, I from E.b: I.c = E.d`, `(forall (E (. $implicit xEvent) (. (var E) a)) (I (. (var E) b) (= (. (var I) c) (. (var E) d))))`},
	{`exists E from xEvent where E.a > 1, I from E.items where I.b or I.c`, `(exists (E (. $implicit xEvent) (> (. (var E) a) 1)) (I (. (var E) items) (or (. (var I) b) (. (var I) c))))`},
	{`(exists E from xEvent) and E`, `(and (exists (E (. $implicit xEvent) _)) (. $implicit E))`},
	{`c and exists a from b where d or e`, `(and (. $implicit c) (exists (a (. $implicit b) (or (. $implicit d) (. $implicit e)))))`},
	{`exists a from b and c`, `(and (exists (a (. $implicit b) _)) (. $implicit c))`},
	{`if(exists a from b, c, d)`, `(call if (exists (a (. $implicit b) _)) (. $implicit c) (. $implicit d))`},
	{`FORALL a from b: c`, `(forall (a (. $implicit b) (. $implicit c)))`},

	// select.
	{`select V from V where V.a`, `(select V (. $implicit V) (. (var V) a))`},
	{`select a from b`, `(select a (. $implicit b) _)`},
	{`select v from xEvent: v.x = 1`, `(select v (. $implicit xEvent) (= (. (var v) x) 1))`},

	// Aggregate comprehensions: the variable is bound in the expression
	// (found by looking ahead) and the condition, not in the source.
	{`sum X.a over X from X where X.b`, `(sum (. (var X) a) X (. $implicit X) (. (var X) b))`},
	{`(sum X.a over X from b) > X`, `(> (sum (. (var X) a) X (. $implicit b) _) (. $implicit X))`},
	{`SUM X.a OVER X FROM b WHERE X.c`, `(sum (. (var X) a) X (. $implicit b) (. (var X) c))`},
	{`count X over X from b`, `(count (var X) X (. $implicit b) _)`},
	{`min (X.a) over X from b`, `(min (. (var X) a) X (. $implicit b) _)`},
	{`max ^.a over X from b`, `(max (. ^ a) X (. $implicit b) _)`},
	{`average $1.a over X from b`, `(average (. $1 a) X (. $implicit b) _)`},
	{`sum X.a + count Y.b over Y from X.c over X from d`, `(sum (+ (. (var X) a) (count (. (var Y) b) Y (. (var X) c) _)) X (. $implicit d) _)`},
	{`sum count X.a over Y from b over X from c`, `(sum (count (. (var X) a) Y (. $implicit b) _) X (. $implicit c) _)`},
	{`sum X.a over X from count Y over Y from b`, `(sum (. (var X) a) X (count (var Y) Y (. $implicit b) _) _)`},
	{"sum `count` over X from b", `(sum (. $implicit count) X (. $implicit b) _)`},
	{`sum a.count() over X from b`, `(sum (.count (. $implicit a)) X (. $implicit b) _)`},

	// Precedence: or < and < not < comparison < + - < * / % < unary minus < postfix.
	{`a or b and not c = 1`, `(or (. $implicit a) (and (. $implicit b) (not (= (. $implicit c) 1))))`},
	{`a and b or c and d`, `(or (and (. $implicit a) (. $implicit b)) (and (. $implicit c) (. $implicit d)))`},
	{`a or b or c`, `(or (or (. $implicit a) (. $implicit b)) (. $implicit c))`},
	{`not a and b`, `(and (not (. $implicit a)) (. $implicit b))`},
	{`!a or !(b)`, `(or (not (. $implicit a)) (not (. $implicit b)))`},
	{`not (a) = b`, `(not (= (. $implicit a) (. $implicit b)))`},
	{`not not a`, `(not (not (. $implicit a)))`},
	{`a = not(b).x`, `(= (. $implicit a) (not (. (. $implicit b) x)))`},
	{`a = b + c * d`, `(= (. $implicit a) (+ (. $implicit b) (* (. $implicit c) (. $implicit d))))`},
	{`(a = b) = c`, `(= (= (. $implicit a) (. $implicit b)) (. $implicit c))`},
	{`a + b - c`, `(- (+ (. $implicit a) (. $implicit b)) (. $implicit c))`},
	{`a - (b - c)`, `(- (. $implicit a) (- (. $implicit b) (. $implicit c)))`},
	{`a * b / c % d`, `(% (/ (* (. $implicit a) (. $implicit b)) (. $implicit c)) (. $implicit d))`},
	{`(a + b) * c`, `(* (+ (. $implicit a) (. $implicit b)) (. $implicit c))`},
	{`a + 1 in b`, `(in (+ (. $implicit a) 1) (. $implicit b))`},
	{`-a.b`, `(neg (. (. $implicit a) b))`},
	{`-a * b`, `(* (neg (. $implicit a)) (. $implicit b))`},
	{`- - a`, `(neg (neg (. $implicit a)))`},
	{`-5 * 3`, `(* -5 3)`},
	{`-(5) * 3`, `(* (neg 5) 3)`},
	{`- 5`, `(neg 5)`},
	{`- -5`, `(neg -5)`},
	{`--5`, `(neg -5)`},
	{`-5.x`, `(. -5 x)`},
	{`a -5`, `(- (. $implicit a) 5)`},
	{`a-5`, `(- (. $implicit a) 5)`},
	{`a - -5`, `(- (. $implicit a) -5)`},
	{`-9223372036854775808`, `-9223372036854775808`},
	{`1 - -9223372036854775808`, `(- 1 -9223372036854775808)`},
	{`9223372036854775807`, `9223372036854775807`},
	{`2 - 3 * -4.5`, `(- 2 (* 3 -4.5))`},
	{`-0.0`, `-0.0`},
	{`-1e3`, `-1000.0`},
	{`a <> b and c == d`, `(and (!= (. $implicit a) (. $implicit b)) (= (. $implicit c) (. $implicit d)))`},

	// in, notIn, like.
	{`a in [1, 2, 3]`, `(in (. $implicit a) [1 2 3])`},
	{`a notIn ["x"]`, `(notIn (. $implicit a) ["x"])`},
	{`a like "%x_"`, `(like (. $implicit a) "%x_")`},
	{`a In [1] or b NOTIN [2] AND c LIKE "x"`, `(or (in (. $implicit a) [1]) (and (notIn (. $implicit b) [2]) (like (. $implicit c) "x")))`},

	// Functions and methods.
	{`person.name.startsWith("Joe", false)`, `(.startsWith (. (. $implicit person) name) "Joe" false)`},
	{`a.count().sum(b).x`, `(. (.sum (.count (. $implicit a)) (. $implicit b)) x)`},
	{`inSegment("x") and currentMonth() = 3`, `(and (call inSegment "x") (= (call currentMonth) 3))`},
	{`date(2020, 3, 14).getYear()`, `(.getYear (call date 2020 3 14))`},
	{`5.count()`, `(.count 5)`},
	{`1.e5`, `(. 1 e5)`},

	// Filters, nesting and up-references.
	{`xEvent[productListItems[SKU="PS"]]`, `([] (. $implicit xEvent) ([] (. $implicit productListItems) (= (. $implicit SKU) "PS")))`},
	{`a[b][c]`, `([] ([] (. $implicit a) (. $implicit b)) (. $implicit c))`},
	{`a[b = 1].c[^.d = ^^e]`, `([] (. ([] (. $implicit a) (= (. $implicit b) 1)) c) (= (. ^ d) (. ^^ e)))`},
	{`x.a[y[^^.z = 1 and ^w]]`, `([] (. (. $implicit x) a) ([] (. $implicit y) (and (= (. ^^ z) 1) (. ^ w))))`},
	{`a[^^^.count() > 0]`, `([] (. $implicit a) (> (.count ^^^) 0))`},
	{"a[^`b c`]", "([] (. $implicit a) (. ^ `\"b c\"))"},

	// occurs: offsets with each comparison, before/after/from, on, a bare
	// time, between (whose "and" is not the boolean and), this/last/next,
	// date(...) and timestamp fields.
	{`ts occurs = 3 hours before now`, `(occurs (. $implicit ts) (= 3 hour before now))`},
	{`ts occurs != 3 hours after today`, `(occurs (. $implicit ts) (!= 3 hour after today))`},
	{`ts occurs <> 3 hours after today`, `(occurs (. $implicit ts) (!= 3 hour after today))`},
	{`ts occurs < 1 day from yesterday`, `(occurs (. $implicit ts) (< 1 day from yesterday))`},
	{`ts occurs <= 2 weeks before tomorrow`, `(occurs (. $implicit ts) (<= 2 week before tomorrow))`},
	{`ts occurs > 3 months after this year`, `(occurs (. $implicit ts) (> 3 month after (this year)))`},
	{`ts occurs >= 4 years before last decade`, `(occurs (. $implicit ts) (>= 4 year before (last decade)))`},
	{`ts occurs 5 minutes before now`, `(occurs (. $implicit ts) (= 5 minute before now))`},
	{`ts occurs 3 Days From now`, `(occurs (. $implicit ts) (= 3 day from now))`},
	{`ts occurs 1 day before X.timestamp`, `(occurs (. $implicit ts) (= 1 day before (. (. $implicit X) timestamp)))`},
	{`ts occurs before now`, `(occurs (. $implicit ts) (before now))`},
	{`ts occurs BEFORE today`, `(occurs (. $implicit ts) (before today))`},
	{`ts occurs after X.timestamp`, `(occurs (. $implicit ts) (after (. (. $implicit X) timestamp)))`},
	{`ts occurs on date(2020, 3, 14)`, `(occurs (. $implicit ts) (on (call date 2020 3 14)))`},
	{`ts occurs ON other.ts`, `(occurs (. $implicit ts) (on (. (. $implicit other) ts)))`},
	{`ts occurs other.ts`, `(occurs (. $implicit ts) (on (. (. $implicit other) ts)))`},
	{`ts occurs today`, `(occurs (. $implicit ts) (on today))`},
	{`ts occurs on yesterday`, `(occurs (. $implicit ts) (on yesterday))`},
	{`ts occurs tomorrow`, `(occurs (. $implicit ts) (on tomorrow))`},
	{`ts occurs next century`, `(occurs (. $implicit ts) (on (next century)))`},
	{`ts occurs this millennium`, `(occurs (. $implicit ts) (on (this millennium)))`},
	{`ts occurs last`, `(occurs (. $implicit ts) (on (. $implicit last)))`},
	{`ts occurs between last week and next week`, `(occurs (. $implicit ts) (between (last week) (next week)))`},
	{`ts occurs between date(2015, 1, 8) and date(2017, 7, 1) and b`, `(and (occurs (. $implicit ts) (between (call date 2015 1 8) (call date 2017 7 1))) (. $implicit b))`},
	{`ts occurs Between today AND tomorrow or b`, `(or (occurs (. $implicit ts) (between today tomorrow)) (. $implicit b))`},
	{`(a occurs now) = b`, `(= (occurs (. $implicit a) (on now)) (. $implicit b))`},
	{`a.b + 1 occurs today`, `(occurs (+ (. (. $implicit a) b) 1) (on today))`},
	{"a occurs before `now`.x", "(occurs (. $implicit a) (before (. (. $implicit now) x)))"},

	// Units: singular, plural, any case.
	{`ts occurs 1 Millisecond before now`, `(occurs (. $implicit ts) (= 1 millisecond before now))`},
	{`ts occurs 2 SECONDS before now`, `(occurs (. $implicit ts) (= 2 second before now))`},
	{`ts occurs 2 minute before now`, `(occurs (. $implicit ts) (= 2 minute before now))`},
	{`ts occurs 2 Hour before now`, `(occurs (. $implicit ts) (= 2 hour before now))`},
	{`ts occurs 2 decades before now`, `(occurs (. $implicit ts) (= 2 decade before now))`},
	{`ts occurs 1 century before now`, `(occurs (. $implicit ts) (= 1 century before now))`},
	{`ts occurs 2 centuries before now`, `(occurs (. $implicit ts) (= 2 century before now))`},
	{`ts occurs 1 millennium before now`, `(occurs (. $implicit ts) (= 1 millennium before now))`},
	{`ts occurs 3 MILLENNIA before now`, `(occurs (. $implicit ts) (= 3 millennium before now))`},
	{`ts occurs this Day`, `(occurs (. $implicit ts) (on (this day)))`},
	{`ts occurs next months`, `(occurs (. $implicit ts) (on (next month)))`},

	// Chains: clauses in any order and case, several steps, CHAIN.
	{`chain(xEvent, timestamp, [A: WHAT(eventType = "addToCart") WHERE(x) WHEN(< 8 days before now) COUNT(5), B: what(a) when(today) count(2) where(y)])`,
		`(chain (. $implicit xEvent) timestamp (A (what (= (. $implicit eventType) "addToCart")) (where (. $implicit x)) (when (< 8 day before now)) (count 5)) (B (what (. $implicit a)) (where (. $implicit y)) (when (on today)) (count 2)))`},
	{`CHAIN(xEvent, timestamp, [C0: WHAT(eventType.equals("commerce.checkouts", false)) WHEN(today)])`,
		`(chain (. $implicit xEvent) timestamp (C0 (what (.equals (. $implicit eventType) "commerce.checkouts" false)) (when (on today))))`},
	{`chain(xEvent, timestamp, [A: WHAT(a), B: WHAT(b), C: WHAT(c) WHEN(between last week and today)])`,
		`(chain (. $implicit xEvent) timestamp (A (what (. $implicit a))) (B (what (. $implicit b))) (C (what (. $implicit c)) (when (between (last week) today))))`},
	{`chain(xEvent, timestamp, [A: WHAT(a) WHEN(x.ts)])`, `(chain (. $implicit xEvent) timestamp (A (what (. $implicit a)) (when (on (. (. $implicit x) ts)))))`},

	// Literals.
	{`{"count": G.count(), "sum": G.sum(x)}`, `{"count":(.count (. $implicit G)) "sum":(.sum (. $implicit G) (. $implicit x))}`},
	{`{}`, `{}`},
	{`{"a": {"b": [1]}}`, `{"a":{"b":[1]}}`},
	{`[1, 2.5, "x", true, false, null, [], {}]`, `[1 2.5 "x" true false null [] {}]`},
	{`[[1], [2, [3]]]`, `[[1] [2 [3]]]`},
	{`TRUE or False`, `(or true false)`},
	{`3.0`, `3.0`},
	{`0.0`, `0.0`},
	{`1.5e-7`, `1.5e-07`},
	{`1e+21`, `1e+21`},
	{`1E2`, `100.0`},
	{`007`, `7`},

	// Strings: escapes are decoded; an unknown escape is kept as written.
	{`"q\"b\\n\nt\tr\ru\u0041"`, `"q\"b\\n\nt\tr\ru` + "A" + `"`},
	{`"@(\w+)\d"`, `"@(\\w+)\\d"`},
	{`"\u00e9\u00E9\uZZZZ\u12"`, `"éé\\uZZZZ\\u12"`},
	{`'single "double" \'single\''`, `"single \"double\" 'single'"`},
	{`""`, `""`},

	// Backquoted names are never keywords.
	{"`a b`.`c.d` = `and`", "(= (. (. $implicit `\"a b\") `\"c.d\") (. $implicit and))"},
	{"`` = 1", "(= (. $implicit `\"\") 1)"},
	{"`chain`.x", `(. (. $implicit chain) x)`},
	{`a.and.from`, `(. (. (. $implicit a) and) from)`},
	{`what.when = 1`, `(= (. (. $implicit what) when) 1)`},
	{`café.größe = "ü"`, `(= (. (. $implicit café) größe) "ü")`},

	// Keywords are case-insensitive.
	{`a AND b Or NOT c`, `(or (and (. $implicit a) (. $implicit b)) (not (. $implicit c)))`},
	{`Not (a) and b`, `(and (not (. $implicit a)) (. $implicit b))`},
	{"a\n\tand\r\n b", `(and (. $implicit a) (. $implicit b))`},
}

func TestParseTree(t *testing.T) {
	for _, tt := range parseTreeTests {
		q, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := sexpr(q.Root); got != tt.want {
			t.Errorf("Parse(%q)\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

// TestSexprDistinguishes guards the test helpers: trees that differ only
// in a detail must render and compare differently.
func TestSexprDistinguishes(t *testing.T) {
	pairs := [][2]string{
		{`1`, `1.0`},
		{`0.0`, `-0.0`},
		{`"1"`, `1`},
		{`a`, "`a`.x"},
		{`(a) => a`, `(a) => b`},
		{`a occurs now`, `a occurs today`},
		{`a occurs 1 day before now`, `a occurs 1 day after now`},
		{`a occurs 1 day before now`, `a occurs < 1 day before now`},
		{`a occurs this week`, `a occurs last week`},
		{`exists a from b`, `forall a from b`},
		{`exists a from b where c`, `exists a from b`},
		{`sum a over X from b`, `count a over X from b`},
		{`chain(x, t, [A: WHAT(a) COUNT(2)])`, `chain(x, t, [A: WHAT(a)])`},
		{`chain(x, t, [A: WHAT(a)])`, `chain(x, u, [A: WHAT(a)])`},
		{`^.a`, `^^.a`},
		{`a[b]`, `a.b`},
		{`not (a)`, `-(a)`},
		{`{"a": 1}`, `{"b": 1}`},
		{`$1.a`, `a`},
	}
	for _, p := range pairs {
		a, err := Parse(p[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(p[1])
		if err != nil {
			t.Fatal(err)
		}
		if sameTree(a.Root, b.Root) {
			t.Errorf("sameTree(%q, %q) = true", p[0], p[1])
		}
		if sexpr(a.Root) == sexpr(b.Root) {
			t.Errorf("sexpr(%q) = sexpr(%q) = %s", p[0], p[1], sexpr(a.Root))
		}
	}
	a, _ := Parse("a  =\n1")
	b, _ := Parse("a = 1")
	if !sameTree(a.Root, b.Root) {
		t.Errorf("sameTree does not ignore positions")
	}
}

// TestParsePositions checks node positions: 1-based lines and columns, with
// columns counting runes.
func TestParsePositions(t *testing.T) {
	src := "café.x = \"ü\" and\n  not b[^c] and -5 > -d"
	q, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	Walk(q.Root, func(n Node) bool {
		p := n.Pos()
		got = append(got, strconv.Itoa(p.Line)+":"+strconv.Itoa(p.Col)+"@"+strconv.Itoa(p.Offset)+" "+reflect.TypeOf(n).Elem().Name())
		return true
	})
	want := []string{
		"2:13@31 Binary",   // second and
		"1:14@15 Binary",   // first and, after the two-byte é and ü
		"1:8@8 Binary",     // =
		"1:6@6 Field",      // x
		"1:1@0 Field",      // café
		"1:1@0 Implicit",   // the implicit parameter of café
		"1:10@10 Literal",  // "ü"
		"2:3@21 Unary",     // not
		"2:8@26 Filter",    // [
		"2:7@25 Field",     // b
		"2:7@25 Implicit",  //
		"2:10@28 Field",    // c of ^c
		"2:9@27 Up",        // ^
		"2:20@38 Binary",   // >
		"2:17@35 Literal",  // -5 starts at the minus
		"2:22@40 Unary",    // -d
		"2:23@41 Field",    // d
		"2:23@41 Implicit", //
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("positions of %q:\n got %s\nwant %s", src, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// parseErrorTests are bad queries and the first line of the error.
var parseErrorTests = []struct {
	in        string
	want      string // first line of Error()
	line, col int
}{
	{`person.name.startswith("Joe")`, `unknown function "startswith" at 1:13, did you mean "startsWith"?`, 1, 13},
	{`a.startswth("x")`, `unknown function "startswth" at 1:3, did you mean "startsWith"?`, 1, 3},
	{`a.frobnicate()`, `unknown function "frobnicate" at 1:3`, 1, 3},
	{`IF(a, 1, 2)`, `unknown function "IF" at 1:1, did you mean "if"?`, 1, 1},

	// Lexical errors.
	{`person.name = "Joe`, `unterminated string: expected a closing ", found end of query at 1:15`, 1, 15},
	{`person.name = 'Joe`, `unterminated string: expected a closing ', found end of query at 1:15`, 1, 15},
	{`a = "x\"`, `unterminated string: expected a closing ", found end of query at 1:5`, 1, 5},
	{"`abc", "unterminated quoted name: expected a closing `, found end of query at 1:1", 1, 1},
	{`a # b`, `unexpected character '#' at 1:3`, 1, 3},
	{`a ~ b`, `unexpected character '~' at 1:3`, 1, 3},
	{`é = ∑`, `unexpected character '∑' at 1:5`, 1, 5},
	{"a = \xff", "unexpected character '\uFFFD' at 1:5", 1, 5},
	{`$`, `invalid parameter reference: expected a parameter number such as $1, found "$" at 1:1`, 1, 1},
	{`a = $x`, `invalid parameter reference: expected a parameter number such as $1, found "$" at 1:5`, 1, 5},

	// Syntax errors.
	{``, `syntax error: expected an expression, found end of query at 1:1`, 1, 1},
	{`a = (b`, `syntax error: expected ")", found end of query at 1:7`, 1, 7},
	{`a.startsWith("x"`, `syntax error: expected "," or ")", found end of query at 1:17`, 1, 17},
	{`if(a, b c)`, `syntax error: expected "," or ")", found "c" at 1:9`, 1, 9},
	{`a = 1 )`, `syntax error: expected an operator or the end of the query, found ")" at 1:7`, 1, 7},
	{`a = 1 b`, `syntax error: expected an operator or the end of the query, found "b" at 1:7`, 1, 7},
	{`a = 1 "x"`, `syntax error: expected an operator or the end of the query, found string "x" at 1:7`, 1, 7},
	{`a = b = c`, `syntax error: expected an operator or the end of the query, found "=" at 1:7`, 1, 7},
	{`a < b > c`, `syntax error: expected an operator or the end of the query, found ">" at 1:7`, 1, 7},
	{`a in b in c`, `syntax error: expected an operator or the end of the query, found "in" at 1:8`, 1, 8},
	{`a and or b`, "syntax error: expected an expression, found keyword \"or\" at 1:7, quote a field of that name with backquotes: `or`", 1, 7},
	{`a.b.`, `syntax error: expected a field or function name after ".", found end of query at 1:5`, 1, 5},
	{`a.5`, `syntax error: expected a field or function name after ".", found "5" at 1:3`, 1, 3},
	{`{a: 1}`, `syntax error: expected a quoted key, found "a" at 1:2`, 1, 2},
	{`{"a" 1}`, `syntax error: expected ":", found "1" at 1:6`, 1, 6},
	{`[1, 2`, `syntax error: expected "," or "]", found end of query at 1:6`, 1, 6},
	{`a[b`, `syntax error: expected "]", found end of query at 1:4`, 1, 4},
	{`^`, `syntax error: expected "." and a field after "^", found end of query at 1:2`, 1, 2},
	{`^5`, `syntax error: expected "." and a field after "^", found "5" at 1:2`, 1, 2},
	{`a = !b`, `syntax error: expected an expression, found "!" at 1:5`, 1, 5},
	{`(a, b)`, `syntax error: expected ")", found "," at 1:3`, 1, 3},
	{`(a) =>`, `syntax error: expected an expression, found end of query at 1:7`, 1, 7},
	{`let x = 1`, `syntax error: expected "in", found end of query at 1:10`, 1, 10},
	{`exists a from b where`, `syntax error: expected an expression, found end of query at 1:22`, 1, 22},
	{`sum a over X`, "syntax error: expected an expression, found keyword \"sum\" at 1:1, quote a field of that name with backquotes: `sum`", 1, 1},

	// Wrong arity.
	{`if(a, b)`, `if takes 3 arguments, got 2 at 1:1`, 1, 1},
	{`currentMonth(1)`, `currentMonth takes 0 arguments, got 1 at 1:1`, 1, 1},
	{`person.name.startsWith()`, `startsWith takes 1 to 2 arguments, got 0 at 1:13`, 1, 13},
	{`person.name.startsWith("a", true, 3)`, `startsWith takes 1 to 2 arguments, got 3 at 1:13`, 1, 13},
	{`a.count(b)`, `count takes 0 arguments, got 1 at 1:3`, 1, 3},
	{`a.topN(b)`, `topN takes 2 arguments, got 1 at 1:3`, 1, 3},

	// A method called as a function and the other way round.
	{`startsWith("Joe")`, `unknown function "startsWith" at 1:1, startsWith is called on a value: x.startsWith(...)`, 1, 1},
	{`count(a)`, `unknown function "count" at 1:1, count is called on a value: x.count(...)`, 1, 1},
	{`exists(a)`, `unknown function "exists" at 1:1, exists is called on a value: x.exists(...)`, 1, 1},
	{`a.date(2020, 1, 1)`, `unknown function "date" at 1:3, date is not called on a value: date(...)`, 1, 3},
	{`a.b.inSegment("x")`, `unknown function "inSegment" at 1:5, inSegment is not called on a value: inSegment(...)`, 1, 5},

	// occurs.
	{`ts occurs 3 fortnights before now`, `syntax error: expected a time unit (day, days, hour, week, month, year, ...), found "fortnights" at 1:13`, 1, 13},
	{`ts occurs 3 before now`, `syntax error: expected a time unit (day, days, hour, week, month, year, ...), found "before" at 1:13`, 1, 13},
	{`ts occurs 3 day around now`, `syntax error: expected "before", "after" or "from", found "around" at 1:17`, 1, 17},
	{`ts occurs`, `syntax error: expected a time: now, today, yesterday, tomorrow, this/last/next <unit>, date(y, m, d) or a timestamp field, found end of query at 1:10`, 1, 10},
	{`ts occurs and b`, "syntax error: expected an expression, found keyword \"and\" at 1:11, quote a field of that name with backquotes: `and`", 1, 11},
	{`ts occurs 3 days before`, `syntax error: expected a time: now, today, yesterday, tomorrow, this/last/next <unit>, date(y, m, d) or a timestamp field, found end of query at 1:24`, 1, 24},
	{`ts occurs before`, `syntax error: expected a time: now, today, yesterday, tomorrow, this/last/next <unit>, date(y, m, d) or a timestamp field, found end of query at 1:17`, 1, 17},
	{`ts occurs between today`, `syntax error: expected "and", found end of query at 1:24`, 1, 24},
	{`ts occurs = before now`, `syntax error: expected a whole number of units, found "before" at 1:13`, 1, 13},
	{`ts occurs < 1.5 days before now`, `syntax error: expected a whole number of units, found "1.5" at 1:13`, 1, 13},
	{`ts occurs 1000000001 days before now`, `1000000001 units is out of range at 1:11`, 1, 11},
	{`ts occurs -1 days before now`, `syntax error: expected a time: now, today, yesterday, tomorrow, this/last/next <unit>, date(y, m, d) or a timestamp field, found "-" at 1:11`, 1, 11},

	// chain.
	{`chain(xEvent, timestamp, [A: WHEN(today)])`, `step A has no WHAT: expected WHAT(condition), found "]" at 1:27`, 1, 27},
	{`chain(xEvent, timestamp, [A: WHERE(a)])`, `step A has no WHAT: expected WHAT(condition), found "]" at 1:27`, 1, 27},
	{`chain(xEvent, timestamp, [A: WHAT(a) WHAT(b)])`, `WHAT given twice in step A at 1:38`, 1, 38},
	{`chain(xEvent, timestamp, [A: WHAT(a) when(today) WHEN(today)])`, `WHEN given twice in step A at 1:50`, 1, 50},
	{`chain(xEvent, timestamp, [A: WHAT(a) COUNT(0)])`, `COUNT must be between 1 and 1048576 at 1:44`, 1, 44},
	{`chain(xEvent, timestamp, [A: WHAT(a) COUNT(1048577)])`, `COUNT must be between 1 and 1048576 at 1:44`, 1, 44},
	{`chain(xEvent, timestamp, [A: WHAT(a) COUNT(x)])`, `syntax error: expected a whole number of occurrences, found "x" at 1:44`, 1, 44},
	{`chain(xEvent, timestamp, [A: WHAT(a) HOW(b)])`, `syntax error: expected WHAT, WHERE, WHEN or COUNT, found "HOW" at 1:38`, 1, 38},
	{`chain(xEvent, timestamp, [WHAT(a)])`, `syntax error: expected ":", found "(" at 1:31`, 1, 31},
	{`chain(xEvent, timestamp, [])`, `syntax error: expected a step label, e.g. A:, found "]" at 1:27`, 1, 27},
	{`chain(xEvent, [A: WHAT(a)])`, `syntax error: expected the time field, e.g. timestamp, found "[" at 1:15`, 1, 15},
	{`chain(xEvent, timestamp, [A: WHAT(a) WHEN(a = b)])`, `syntax error: expected ")", found "=" at 1:45`, 1, 45},
	{`chain`, "syntax error: expected an expression, found keyword \"chain\" at 1:1, quote a field of that name with backquotes: `chain`", 1, 1},

	// Numbers and parameters out of range.
	{`9223372036854775808`, `integer 9223372036854775808 is out of range at 1:1`, 1, 1},
	{`- 9223372036854775808`, `integer 9223372036854775808 is out of range at 1:3`, 1, 3},
	{`a = -9223372036854775809`, `integer -9223372036854775809 is out of range at 1:6`, 1, 6},
	{`1e999`, `number 1e999 is out of range at 1:1`, 1, 1},
	{`$0`, `parameter $0 is out of range: expected $1 to $64 at 1:1`, 1, 1},
	{`$65`, `parameter $65 is out of range: expected $1 to $64 at 1:1`, 1, 1},
	{`$99999999999999999999`, `parameter $99999999999999999999 is out of range: expected $1 to $64 at 1:1`, 1, 1},

	// Keywords used as fields, with the backquote hint.
	{`select = 1`, "syntax error: expected an expression, found keyword \"select\" at 1:1, quote a field of that name with backquotes: `select`", 1, 1},
	{`a = from`, "syntax error: expected an expression, found keyword \"from\" at 1:5, quote a field of that name with backquotes: `from`", 1, 5},
	{`Over.x`, "syntax error: expected an expression, found keyword \"Over\" at 1:1, quote a field of that name with backquotes: `Over`", 1, 1},
	{`a[where]`, "syntax error: expected an expression, found keyword \"where\" at 1:3, quote a field of that name with backquotes: `where`", 1, 3},

	// Positions on later lines, with tabs and multi-byte runes before them.
	{"a = 1 and\n  b = \"x\" or\n  c.startswith(\"y\")", `unknown function "startswith" at 3:5, did you mean "startsWith"?`, 3, 5},
	{"a = 1 and\n\tb = (c", `syntax error: expected ")", found end of query at 2:8`, 2, 8},
	{"\"ü\" = a and\n\"ü\" = b b", `syntax error: expected an operator or the end of the query, found "b" at 2:9`, 2, 9},
	{"a = \"line\nbreak\" and `x\ny` and\n  #", `unexpected character '#' at 4:3`, 4, 3},
	{"a and\n", `syntax error: expected an expression, found end of query at 2:1`, 2, 1},
}

func TestParseErrors(t *testing.T) {
	for _, tt := range parseErrorTests {
		q, err := Parse(tt.in)
		if err == nil {
			t.Errorf("Parse(%q) = %s, want an error", tt.in, sexpr(q.Root))
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q): error %T, want *SyntaxError", tt.in, err)
			continue
		}
		msg := err.Error()
		first, _, _ := strings.Cut(msg, "\n")
		if first != tt.want {
			t.Errorf("Parse(%q): error\n got %s\nwant %s", tt.in, first, tt.want)
		}
		if se.Pos.Line != tt.line || se.Pos.Col != tt.col {
			t.Errorf("Parse(%q): error at %d:%d, want %d:%d", tt.in, se.Pos.Line, se.Pos.Col, tt.line, tt.col)
		}
		if errors.Is(err, ErrLimit) {
			t.Errorf("Parse(%q): %v is a limit error", tt.in, err)
		}
		if tt.in != "" {
			checkSnippet(t, tt.in, se)
		}
	}
}

// checkSnippet checks that the snippet of se shows the query line holding
// the error and a caret under its column (lines up to 60 runes before the
// caret are shown whole; tabs are shown as spaces, invalid UTF-8 as U+FFFD).
func checkSnippet(t *testing.T, src string, se *SyntaxError) {
	t.Helper()
	lines := strings.Split(src, "\n")
	line := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\r' {
			return ' '
		}
		return r
	}, lines[se.Pos.Line-1])
	if se.Pos.Col > 60 || utf8.RuneCountInString(line) > 120 {
		t.Fatalf("checkSnippet: line too long for this check")
	}
	want := "  " + line + "\n  " + strings.Repeat(" ", se.Pos.Col-1) + "^"
	if se.Snippet != want {
		t.Errorf("Parse(%q): snippet\n%s\nwant\n%s", src, se.Snippet, want)
	}
	if !strings.HasSuffix(se.Error(), "\n"+want) {
		t.Errorf("Parse(%q): Error() does not end with the snippet: %q", src, se.Error())
	}
}

// TestParseErrorMessage checks one whole message, snippet included.
func TestParseErrorMessage(t *testing.T) {
	_, err := Parse(`person.name.startswith("Joe")`)
	want := "unknown function \"startswith\" at 1:13, did you mean \"startsWith\"?\n" +
		"  person.name.startswith(\"Joe\")\n" +
		"              ^"
	if err == nil || err.Error() != want {
		t.Errorf("got error\n%v\nwant\n%s", err, want)
	}
	var se *SyntaxError
	if !errors.As(err, &se) {
		t.Fatalf("error %T, want *SyntaxError", err)
	}
	if se.Msg != `unknown function "startswith"` || se.Hint != `did you mean "startsWith"?` || se.Pos != (Pos{Offset: 12, Line: 1, Col: 13}) {
		t.Errorf("got %+v", *se)
	}

	_, err = Parse("a = 1 and\n  b.contans(\"x\")")
	want = "unknown function \"contans\" at 2:5, did you mean \"contains\"?\n" +
		"    b.contans(\"x\")\n" +
		"      ^"
	if err == nil || err.Error() != want {
		t.Errorf("got error\n%v\nwant\n%s", err, want)
	}

	// A long line is cut to a window around the caret.
	long := strings.Repeat("a.", 100) + "frob()"
	_, err = Parse(long)
	if !errors.As(err, &se) {
		t.Fatalf("Parse(long): %v", err)
	}
	if se.Pos.Col != 201 {
		t.Errorf("Parse(long): column %d, want 201", se.Pos.Col)
	}
	snip := strings.Split(se.Snippet, "\n")
	if len(snip) != 2 || !strings.HasPrefix(snip[0], "  ...") || !strings.HasSuffix(snip[1], "^") {
		t.Fatalf("Parse(long): snippet %q", se.Snippet)
	}
	caret := len(snip[1]) - 1
	if got := snip[0][caret:]; !strings.HasPrefix(got, "frob()") {
		t.Errorf("Parse(long): caret under %q, want under frob()", got)
	}
}

// nested builds a query of n levels of prefix and suffix around core.
func nested(prefix, core, suffix string) func(n int) string {
	return func(n int) string {
		return strings.Repeat(prefix, n) + core + strings.Repeat(suffix, n)
	}
}

// limitShapes are ways to nest a query, with the deepest nesting that
// parses (one more does not). The tree counts Field and Implicit, so a bare
// name is 2 levels deep.
var limitShapes = []struct {
	name string
	gen  func(n int) string
	ok   int
}{
	{"field chain", nested("", "a", ".b"), MaxDepth - 2},
	{"not", nested("not ", "a", ""), MaxDepth - 2},
	{"bang", nested("!", "a", ""), MaxDepth - 2},
	{"not()", nested("not (", "a", ")"), MaxDepth - 2},
	// Redundant parentheses: three parser levels a tree level here (two at
	// most in canonical text), so the parser limit comes first.
	{"not parens", nested("not ((", "a", "))"), 2 * MaxDepth / 3},
	{"minus", nested("- ", "a", ""), MaxDepth - 2},
	{"minus no space", nested("-", "a", ""), MaxDepth - 2},
	{"minus literal", nested("- ", "-5", ""), MaxDepth - 1},
	{"minus parens", nested("-(", "-5", ")"), MaxDepth - 1},
	{"filters", nested("a[", "b", "]"), MaxDepth - 2},
	{"method args", nested("a.filter(", "b", ")"), MaxDepth - 2},
	{"arrays", nested("[", "1", "]"), MaxDepth - 1},
	{"objects", nested(`{"k": `, "1", "}"), MaxDepth - 1},
	{"lets", nested("let x = 1 in ", "x", ""), MaxDepth - 1},
	{"let values", nested("let x = (", "1", ") in x"), MaxDepth - 1},
	{"lambdas", nested("(x) => ", "x", ""), MaxDepth - 1},
	{"exists", nested("exists a from ", "b", ""), MaxDepth - 2},
	{"exists where", nested("exists a from b where ", "a", ""), MaxDepth - 2},
	{"select", nested("select a from ", "b", ""), MaxDepth - 2},
	{"sum", nested("sum ", "a", " over X from b"), MaxDepth - 2},
	{"sum parens", nested("sum (", "a", ") over X from b"), MaxDepth - 2},
	{"arithmetic", nested("1 + (", "a", ")"), MaxDepth - 2},
	{"if", nested("if(true, ", "a", ", 1)"), MaxDepth - 2},
	{"chain", nested("chain(", "a", ", t, [A: WHAT(a)])"), MaxDepth - 2},
	{"chain what", nested("chain(a, t, [A: WHAT(", "a", ")])"), MaxDepth - 2},
	{"occurs", nested("a occurs before (", "b", ").x"), (MaxDepth - 2) / 2},
	{"not field", nested("(not ", "a", ").x"), (MaxDepth - 2) / 2},
	{"let not", nested("let x = 1 in not (", "x", ")"), (MaxDepth - 2) / 2},
	// Parentheses add no tree levels but still nest the parser.
	{"parens", nested("(", "a", ")"), 2*MaxDepth - 1},
}

func TestParseLimits(t *testing.T) {
	shapes := limitShapes
	for _, sh := range shapes {
		if _, err := Parse(sh.gen(sh.ok)); err != nil {
			t.Errorf("%s: nesting %d: %v", sh.name, sh.ok, firstLine(err))
		}
		for _, n := range []int{sh.ok + 1, 2*sh.ok + 2, 100000} {
			src := sh.gen(n)
			if len(src) > MaxQueryLength {
				src = sh.gen(n * (MaxQueryLength - 100) / len(src)) // as deep as fits
			}
			_, err := Parse(src)
			var se *SyntaxError
			if !errors.Is(err, ErrLimit) || !errors.As(err, &se) {
				t.Errorf("%s: nesting %d: error %v, want a *SyntaxError wrapping ErrLimit", sh.name, n, err)
				continue
			}
			if se.Pos.Line != 1 || se.Pos.Col < 1 || se.Snippet == "" {
				t.Errorf("%s: nesting %d: error without a position: %v", sh.name, n, firstLine(err))
			}
			if !strings.Contains(se.Msg, "nests") {
				t.Errorf("%s: nesting %d: error %q", sh.name, n, se.Msg)
			}
		}
	}
}

func TestParseLength(t *testing.T) {
	long := "[" + strings.Repeat("a, ", MaxQueryLength/3-1) + "a]"
	long += strings.Repeat(" ", MaxQueryLength-len(long))
	if _, err := Parse(long); err != nil {
		t.Errorf("Parse of %d bytes: %v", len(long), firstLine(err))
	}
	_, err := Parse(long + " ")
	var se *SyntaxError
	if !errors.Is(err, ErrLimit) || !errors.As(err, &se) {
		t.Fatalf("Parse of %d bytes: %v, want a *SyntaxError wrapping ErrLimit", len(long)+1, err)
	}
	if want := "query is 65537 bytes long, the limit is 65536"; err.Error() != want {
		t.Errorf("got %q, want %q", err.Error(), want)
	}
	// Other errors are no limit errors.
	if _, err := Parse("a ="); errors.Is(err, ErrLimit) {
		t.Errorf("Parse(%q): %v wraps ErrLimit", "a =", err)
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}
