package pql

// Pos is a position in pql/text: a byte offset and a 1-based line and
// column (columns count runes, so carets line up under multi-byte text).
type Pos struct {
	Offset int
	Line   int
	Col    int
}

// Node is one node of a parsed query. The concrete types below are the whole
// language; both pql/text and pql/json parse to them and print from them.
type Node interface {
	Pos() Pos
}

// LitKind is the type of a Literal.
type LitKind uint8

// Literal kinds.
const (
	LitString LitKind = iota + 1
	LitBool
	LitInt
	LitDouble
	LitNull
)

// Literal is a constant: "pizza", true, -201, 3.14 (and null in pql/json).
type Literal struct {
	At    Pos
	Kind  LitKind
	Str   string
	Int   int64
	Float float64
	Bool  bool
}

// ArrayLit is [a, b, c].
type ArrayLit struct {
	At    Pos
	Elems []Node
}

// ObjectLit is {"key": value, ...} (computed-attribute syntax).
type ObjectLit struct {
	At     Pos
	Keys   []string
	Values []Node
}

// Implicit is the implicit parameter: the profile at the top level, the
// current element inside a filter, a per-element method argument or a chain
// step. A bare name `x` parses as Field{X: Implicit, Name: "x"}.
type Implicit struct{ At Pos }

// Param is an explicit positional parameter: $1 is the profile.
type Param struct {
	At    Pos
	Index int
}

// Var references a name bound by a lambda, let, exists/forall, select or an
// aggregate comprehension.
type Var struct {
	At   Pos
	Name string
}

// Up is a run of ^: the element of an enclosing filter scope, Levels scopes
// out (^^ from an inner filter of a filter on xEvent is the profile).
type Up struct {
	At     Pos
	Levels int
}

// Field is X.Name. On an array it maps over the elements (see doc.go).
type Field struct {
	At   Pos
	X    Node
	Name string
}

// Call is a free function: if, date, inSegment, currentMonth, currentYear,
// currentDayOfMonth, mapEntry.
type Call struct {
	At   Pos
	Name string
	Args []Node
}

// Method is X.Name(Args...): string, array, map, aggregate and date functions.
type Method struct {
	At   Pos
	X    Node
	Name string
	Args []Node
}

// Filter is X[Cond]; inside Cond the implicit parameter is the element.
type Filter struct {
	At   Pos
	X    Node
	Cond Node
}

// Unary is not X or -X. "!" parses as "not".
type Unary struct {
	At Pos
	Op string // "not" or "-"
	X  Node
}

// Binary is X Op Y for and, or, comparisons, arithmetic, in, notIn and like.
type Binary struct {
	At Pos
	Op string
	X  Node
	Y  Node
}

// Lambda is (A, B) => Body. At the top level its first parameter is the
// profile; as a method argument its parameters are bound per element.
type Lambda struct {
	At     Pos
	Params []string
	Body   Node
}

// Let is let Name = (Value) in (Body).
type Let struct {
	At    Pos
	Name  string
	Value Node
	Body  Node
}

// Binding is one "V from Source where Cond" of a quantifier. Cond may be nil.
type Binding struct {
	Var    string
	Source Node
	Cond   Node
}

// Quantifier is exists/forall with one or more bindings; bindings nest (each
// may use the variables of the ones before it).
type Quantifier struct {
	At       Pos
	All      bool // forall rather than exists
	Bindings []Binding
}

// Select is select Var from Source where Cond: true when some element matches.
type Select struct {
	At     Pos
	Var    string
	Source Node
	Cond   Node
}

// Aggregate is Fn Expr over Var from Source [where Cond], e.g.
// sum X.commerce.order.priceTotal over X from xEvent where ... .
type Aggregate struct {
	At     Pos
	Fn     string // sum, count, min, max, average
	Expr   Node
	Var    string
	Source Node
	Cond   Node // may be nil
}

// Unit is a calendar or clock unit of a time expression.
type Unit uint8

// Units, smallest first.
const (
	UnitMillisecond Unit = iota + 1
	UnitSecond
	UnitMinute
	UnitHour
	UnitDay
	UnitWeek
	UnitMonth
	UnitYear
	UnitDecade
	UnitCentury
	UnitMillennium
)

// TimeKind says what a TimeRef denotes.
type TimeKind uint8

// Time reference kinds.
const (
	TimeNow       TimeKind = iota + 1 // the evaluation instant
	TimeToday                         // the current UTC day
	TimeYesterday                     // the UTC day before today
	TimeTomorrow                      // the UTC day after today
	TimeThis                          // this Unit (calendar period containing now)
	TimeLast                          // the calendar period before this Unit
	TimeNext                          // the calendar period after this Unit
	TimeExpr                          // an expression: a timestamp attribute or date(y, m, d)
)

// TimeRef is the {time} of an occurs or WHEN clause. Every TimeRef denotes an
// interval: now and timestamp attributes are instants, today and date(...)
// are UTC days, this/last/next Unit are calendar periods.
type TimeRef struct {
	At   Pos
	Kind TimeKind
	Unit Unit // for TimeThis, TimeLast, TimeNext
	X    Node // for TimeExpr
}

// OccursForm is the shape of an occurs specification.
type OccursForm uint8

// Occurs forms.
const (
	OccursOffset  OccursForm = iota + 1 // [op] N unit before|after|from T
	OccursDir                           // before|after T
	OccursOn                            // [on] T
	OccursBetween                       // between T and T2
)

// OccursSpec is everything after the keyword occurs (or inside WHEN).
type OccursSpec struct {
	Form OccursForm
	Op   string // comparison for OccursOffset: = != < <= > >=
	N    int64
	Unit Unit
	Dir  string // before, after or from
	T    TimeRef
	T2   TimeRef // for OccursBetween
}

// Occurs is X occurs Spec.
type Occurs struct {
	At   Pos
	X    Node
	Spec OccursSpec
}

// Step is one step of a chain: Label: WHAT(..) WHERE(..) WHEN(..) COUNT(n).
type Step struct {
	Label string
	What  Node
	Where Node        // may be nil
	When  *OccursSpec // may be nil
	Count int64       // 0 when absent (meaning 1)
}

// Chain is chain(Source, TimeField, [steps]): an ordered sequence of events.
type Chain struct {
	At        Pos
	Source    Node
	TimeField string
	Steps     []Step
}

// Pos implementations.

func (n *Literal) Pos() Pos    { return n.At }
func (n *ArrayLit) Pos() Pos   { return n.At }
func (n *ObjectLit) Pos() Pos  { return n.At }
func (n *Implicit) Pos() Pos   { return n.At }
func (n *Param) Pos() Pos      { return n.At }
func (n *Var) Pos() Pos        { return n.At }
func (n *Up) Pos() Pos         { return n.At }
func (n *Field) Pos() Pos      { return n.At }
func (n *Call) Pos() Pos       { return n.At }
func (n *Method) Pos() Pos     { return n.At }
func (n *Filter) Pos() Pos     { return n.At }
func (n *Unary) Pos() Pos      { return n.At }
func (n *Binary) Pos() Pos     { return n.At }
func (n *Lambda) Pos() Pos     { return n.At }
func (n *Let) Pos() Pos        { return n.At }
func (n *Quantifier) Pos() Pos { return n.At }
func (n *Select) Pos() Pos     { return n.At }
func (n *Aggregate) Pos() Pos  { return n.At }
func (n *Occurs) Pos() Pos     { return n.At }
func (n *Chain) Pos() Pos      { return n.At }
