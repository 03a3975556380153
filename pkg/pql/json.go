package pql

// pql/json: the JSON form of a query, both directions.
//
// Adobe documents four node types (section 1 of the API digest); everything
// else is ours. Every node is an object with a "nodeType" member; members are
// required unless marked optional, and no other members are allowed.
//
//	fnApply            {"fnName": F, "params": [NODE...]}
//	                   F is an operator: = != < <= > >= and or + - * / %
//	                   in notIn like (2 params); not (1 param); neg (unary
//	                   minus, 1 param). Or a free function of the catalogue
//	                   (if, date, inSegment, currentMonth, currentYear,
//	                   currentDayOfMonth, mapEntry): params are its arguments.
//	                   Or a method (startsWith, count, ...): params[0] is the
//	                   receiver, the rest are its arguments.
//	fieldLookup        {"fieldName": S, "object"?: NODE}
//	                   At the top level the profile is the object:
//	                   {"nodeType":"parameterReference","position":1}. Inside
//	                   an element scope (a filter's condition, a per-element
//	                   method argument, a chain step's what/where) a field of
//	                   the current element omits "object" (at the top level
//	                   an omitted object is read as the profile too). Names
//	                   (fields, variables, labels) may not hold a backquote.
//	parameterReference {"position": 1..64}; position 1 at the top level is
//	                   the implicit parameter (the profile).
//	literal            {"literalType": "String"|"Boolean"|"Integer"|"Double"|
//	                   "Null", "value": V}; an Integer value is written
//	                   without fraction or exponent; Null's value is null.
//
// Ours:
//
//	variableReference  {"name": S}: a name bound by lambda, let, quantifier,
//	                   select or aggregate.
//	upReference        {"levels": 1..MaxDepth}: ^, ^^, ...; only as the object
//	                   of a fieldLookup or the receiver of a method.
//	arrayLiteral       {"items": [NODE...]}
//	objectLiteral      {"fields": [{"name": S, "value": NODE}...]}
//	filter             {"object": NODE, "condition": NODE}
//	lambda             {"params": [S...], "body": NODE}
//	let                {"name": S, "value": NODE, "body": NODE}
//	quantifier         {"quantifier": "exists"|"forall", "bindings":
//	                   [{"name": S, "source": NODE, "condition"?: NODE}...]}
//	select             {"name": S, "source": NODE, "condition"?: NODE}
//	aggregate          {"fnName": "sum"|"count"|"min"|"max"|"average",
//	                   "expression": NODE, "name": S, "source": NODE,
//	                   "condition"?: NODE}
//	occurs             {"object": NODE, "spec": SPEC}
//	chain              {"source": NODE, "timeField": S, "steps": [{"label": S,
//	                   "what": NODE, "where"?: NODE, "when"?: SPEC,
//	                   "count"?: 1..1048576}...]}
//
// SPEC (not a node) is {"form": F, ...} with, by form:
//
//	"offset"     "op" (= != < <= > >=), "amount" (0..1e9), "unit", "direction"
//	             (before|after|from), "time"
//	"direction"  "direction" (before|after), "time"
//	"on"         "time"
//	"between"    "time", "time2"
//
// TIME is {"kind": "now"|"today"|"yesterday"|"tomorrow"} or {"kind":
// "this"|"last"|"next", "unit": U} or {"kind": "expression", "expression":
// NODE}. Units are singular: millisecond, second, minute, hour, day, week,
// month, year, decade, century, millennium. A chain step's when is evaluated
// in the chain's scope, not the step's element scope.

import (
	"errors"
	"fmt"
)

// ParseJSON parses pql/json. Errors are *SyntaxError whose Msg starts with
// the JSON path of the bad node; Pos is zero. A query it returns prints with
// Format as pql/text that parses back to the same tree, and re-encodes with
// MarshalJSON to JSON that ParseJSON accepts. Query.Source is empty, since
// positions refer to pql/text.
func ParseJSON(data []byte) (*Query, error) {
	if len(data) > MaxQueryLength {
		return nil, &SyntaxError{Msg: fmt.Sprintf("query is %d bytes long, the limit is %d", len(data), MaxQueryLength), limit: true}
	}
	v, err := jReadJSON(data)
	if err != nil {
		return nil, err
	}
	d := &jsonDecoder{}
	root, err := d.node(v, nil, 1, false)
	if err != nil {
		return nil, err
	}
	if err := jCheckRoundTrip(root); err != nil {
		return nil, err
	}
	return &Query{Root: root}, nil
}

// jUnprintable starts the message of the error ParseJSON returns when a tree
// it decoded does not survive Format and Parse; that is a bug, not bad input
// (the fuzz target fails on it).
const jUnprintable = "pql/json: internal error: decoded query"

// jCheckRoundTrip enforces what the decoder cannot see node by node: the
// canonical JSON must fit MaxQueryLength, and the pql/text must fit the
// parser's limits (its nesting count includes the parentheses the printer
// adds, and ^ runs make text longer than JSON).
func jCheckRoundTrip(root Node) error {
	canon, err := MarshalNode(root)
	if err != nil {
		return &SyntaxError{Msg: fmt.Sprintf("%s cannot be encoded: %v", jUnprintable, err)}
	}
	if len(canon) > MaxQueryLength {
		return &SyntaxError{Msg: fmt.Sprintf("query is %d bytes long as canonical pql/json, the limit is %d", len(canon), MaxQueryLength), limit: true}
	}
	if _, err := Parse(Format(root)); err != nil {
		if errors.Is(err, ErrLimit) {
			var se *SyntaxError
			errors.As(err, &se)
			return &SyntaxError{Msg: "as pql/text, " + se.Msg, limit: true}
		}
		return &SyntaxError{Msg: fmt.Sprintf("%s does not parse as pql/text: %v", jUnprintable, err)}
	}
	return nil
}

// MarshalJSON encodes the query as compact pql/json.
func (q *Query) MarshalJSON() ([]byte, error) {
	if q == nil {
		return nil, errors.New("pql/json: nil query")
	}
	return MarshalNode(q.Root)
}

// MarshalNode encodes a tree as compact pql/json, n being at the top level.
func MarshalNode(n Node) ([]byte, error) {
	e := &jsonEncoder{}
	if err := e.node(n, 1); err != nil {
		return nil, err
	}
	return e.b, nil
}

// Node type names.
const (
	jntFnApply   = "fnApply"
	jntField     = "fieldLookup"
	jntParam     = "parameterReference"
	jntLiteral   = "literal"
	jntVar       = "variableReference"
	jntUp        = "upReference"
	jntArray     = "arrayLiteral"
	jntObject    = "objectLiteral"
	jntFilter    = "filter"
	jntLambda    = "lambda"
	jntLet       = "let"
	jntQuant     = "quantifier"
	jntSelect    = "select"
	jntAggregate = "aggregate"
	jntOccurs    = "occurs"
	jntChain     = "chain"
)

var jNodeTypes = [...]string{jntFnApply, jntField, jntParam, jntLiteral, jntVar, jntUp, jntArray, jntObject,
	jntFilter, jntLambda, jntLet, jntQuant, jntSelect, jntAggregate, jntOccurs, jntChain}

// jBinaryOps are the fnApply names of Binary nodes (the op itself).
var jBinaryOps = map[string]bool{
	"=": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"and": true, "or": true, "+": true, "-": true, "*": true, "/": true, "%": true,
	"in": true, "notIn": true, "like": true,
}

// jOpAliases hint at the right fnName for common misspellings (lower case).
var jOpAliases = map[string]string{
	"==": "=", "<>": "!=", "&&": "and", "||": "or", "!": "not", "and": "and", "or": "or",
	"not": "not", "in": "in", "notin": "notIn", "like": "like", "neg": "neg", "negate": "neg",
}

var jLiteralTypes = map[string]LitKind{
	"String": LitString, "Boolean": LitBool, "Integer": LitInt, "Double": LitDouble, "Null": LitNull,
}

var jLiteralTypeNames = [...]string{LitString: "String", LitBool: "Boolean", LitInt: "Integer", LitDouble: "Double", LitNull: "Null"}

var jAggregateFns = map[string]bool{"sum": true, "count": true, "min": true, "max": true, "average": true}

var jSpecForms = map[string]OccursForm{"offset": OccursOffset, "direction": OccursDir, "on": OccursOn, "between": OccursBetween}

var jSpecFormNames = [...]string{OccursOffset: "offset", OccursDir: "direction", OccursOn: "on", OccursBetween: "between"}

var jTimeKinds = map[string]TimeKind{
	"now": TimeNow, "today": TimeToday, "yesterday": TimeYesterday, "tomorrow": TimeTomorrow,
	"this": TimeThis, "last": TimeLast, "next": TimeNext, "expression": TimeExpr,
}

var jTimeKindNames = [...]string{TimeNow: "now", TimeToday: "today", TimeYesterday: "yesterday", TimeTomorrow: "tomorrow",
	TimeThis: "this", TimeLast: "last", TimeNext: "next", TimeExpr: "expression"}

const (
	jMaxParam  = 64      // $1 to $64, as in pql/text
	jMaxAmount = 1e9     // occurs N units, as in pql/text
	jMaxCount  = 1 << 20 // chain COUNT(n), as in pql/text
	jPerAST    = 5       // JSON nesting per tree level at most: chain.steps[].when.time.expression
)

// jMaxDepth bounds raw JSON nesting; anything deeper nests more than
// MaxDepth tree levels anyway.
const jMaxDepth = jPerAST*MaxDepth + 1

// ---------------------------------------------------------------------------
// Reading JSON into a small value tree: one pass, strict (duplicate members
// and trailing data are errors), bounded nesting.
