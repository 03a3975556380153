// Package pql parses, checks and evaluates the Profile Query Language (PQL)
// that Experience Platform segment definitions are written in.
//
// It is used by ups, the local Platform, to evaluate segments over its
// profile store, and by the definer, to reject a bad segment request before
// it costs a Platform call.
//
//	q, err := pql.Parse(`homeAddress.country = "US" and xEvent[eventType = "addToCart"].count() > 2`)
//	plan, err := pql.Compile(q, pql.Options{Schema: schema})
//	r := plan.NewRunner(time.Now()) // one per goroutine
//	ok, err := r.Match(&pql.Subject{Profile: p, Events: events})
//
// # Formats
//
// Parse reads pql/text; ParseJSON reads pql/json (the fnApply, fieldLookup,
// parameterReference and literal nodes of Adobe's documentation, plus the
// node types listed in json.go for the rest of the language). Format and
// MarshalJSON print them back; text → json → text gives the same query.
//
// Errors say where (line:column), what was expected and what was found, and
// carry a snippet with a caret:
//
//	unknown function "startswith" at 1:13, did you mean "startsWith"?
//	  person.name.startswith("Joe")
//	              ^
//
// Hostile input is bounded: MaxQueryLength bytes, MaxDepth levels of
// nesting, MaxRegexLength bytes of a regular expression, and an evaluation
// budget (Options.MaxWork, array elements visited per profile). Errors from
// a limit wrap ErrLimit. No input makes the parser or evaluator panic.
//
// # Grammar
//
// Precedence, loosest first: lambda, let, exists/forall, select and the
// "sum X over V from A" comprehension (they extend as far right as they
// can); or; and; not / !; comparisons, in, notIn, like and occurs (not
// associative); + -; * / %; unary minus; postfix .field, .fn(args), [cond].
// Keywords (and, or, not, in, like, occurs, exists, chain, WHAT …) are
// case-insensitive; function names are case-sensitive, as in Adobe's
// documentation. A field whose name is a keyword or not an identifier is
// written in backquotes: `from`. Strings take "double" or 'single' quotes;
// the escapes are \" \' \\ \n \t \r \uXXXX, and any other backslash stays as
// it is, so regexes such as "@(\w+)" need no doubling.
//
// # Evaluation model
//
// A query is a function of the profile. A bare name (homeAddress) is a
// field of the implicit parameter: the profile at the top level, the
// element inside A[cond], inside the per-element argument of an array
// function (orders.sum(price)), and inside a chain step's WHAT and WHERE.
// $1 is always the profile; (Profile) => Profile.x names it. ^ reaches one
// scope out, ^^ two (filters, per-element arguments and chain steps each
// open a scope): in xEvent[productListItems[^^.person.gender = "female"]]
// ^^ is the profile. xEvent is always the profile's events.
//
// Profiles and events are Values laid out by a Schema: an object's fields
// sit at fixed indexes, resolved when the query is compiled, so reading
// homeAddress.country is two slice indexes, not two map lookups, and a
// simple predicate allocates nothing. Subject.Pack puts a profile and its
// events in one allocation, the layout a store should keep them in. Schemas only grow; a field the schema
// does not know evaluates to null (Check reports it). identityMap and
// segmentMembership are maps; m.key reads a map entry like m.get("key").
//
// # Arrays
//
// A path through an array maps over its elements and flattens:
// person.orders.storeId is every order's storeId, and
// xEvent.metrics.commerce.abandons.value is that value of every event
// (nulls dropped). A comparison, string test or occurs with an array on one
// side holds when some element satisfies it: xEvent.metrics.commerce.
// abandons.value > 0 means "some event has abandons > 0". This is also true
// of the negative forms (!=, doesNotContain): "some element differs"; write
// not (A = x) for "no element equals". in and notIn read the left array as
// a whole: A in L holds when some element of A is in L, A notIn L when A
// is not empty and no element of A is in L (favoriteColors notIn ["red"]
// means "has colours, none of them red"). With arrays on both sides, = and !=
// compare them as sets (intersection(...) = ["red", "blue"] ignores order
// and duplicates). A scalar given to an array function acts as a
// one-element array and null as an empty one. Used as a condition, an array
// is true when it is not empty, so xEvent[cond] means "some event matches".
//
// # Nulls
//
// A missing field and a field of a missing object are null; a path through
// an array whose elements lack the field is an empty array. The two read
// alike everywhere below (Eval shows the difference).
//   - Every comparison with null is false, != included: x != "CA" is false
//     when x is null, while not (x = "CA") is true.
//   - in and notIn are false for null: notIn is not the negation of in.
//     v notIn [..] means "v is present and not in the list".
//   - String tests are false for null, negative ones (doesNotStartWith,
//     notEqualTo, doesNotContain) included.
//   - isNull() is true of null and of an empty array; isNotNull() is its
//     negation.
//   - Arithmetic with null is null; so is division by zero. Integer overflow
//     gives a double; / always divides as doubles.
//   - count() of null is 0; sum() of nothing is 0; average(), min(), max()
//     of nothing are null. sum and average skip non-numbers; an integer sum
//     that overflows becomes a double. min and max compare the values they
//     can order with the best so far (mixing kinds is order-dependent).
//   - Set functions read null as the empty set: null.subsetOf(B) is true.
//   - and/or/not read null (and anything that is not true or a non-empty
//     array) as false.
//   - forall over an empty array is true; exists and select are false.
//
// # Types
//
// Integers and doubles compare by value. A timestamp compares with a
// timestamp, with an ISO 8601 string ("2024-01-31" or a full date-time) and
// with a number, read as epoch milliseconds as XDM ingestion reads it.
// Other mixed kinds never compare equal, unequal or ordered (Check warns).
// date(y, m, d) is midnight UTC of that day.
//
// # Time
//
// All calendar arithmetic is in UTC. now is the runner's instant; today,
// yesterday and tomorrow are UTC days; this/last/next UNIT are calendar
// periods (weeks start on Monday, ISO 8601); date(y, m, d) is a day; a
// timestamp attribute is an instant. Units up to weeks are fixed lengths;
// months and longer are calendar steps (one month before 31 March is 3 March,
// as time.AddDate has it). With T the start of the time reference:
//
//	ts occurs [on] T                ts falls in T (an instant's day for instants)
//	ts occurs before T / after T    ts < start of T / ts >= end of T
//	ts occurs between T1 and T2     start of T1 <= ts < end of T2 (both ends included)
//	ts occurs < N u before T        T - N u < ts <= T   (within the last N u)
//	ts occurs <= N u before T       T - N u <= ts <= T
//	ts occurs > N u before T        ts < T - N u        (longer ago)
//	ts occurs >= N u before T       ts <= T - N u
//	ts occurs = N u before T        B <= ts < B + 1 u and ts < end of T, B = T - N u
//	ts occurs != N u before T       ts <= T, outside that unit
//	after / from mirror these forward in time from T.
//
// So "occurs = 3 days before today" is the whole day three days ago and
// "occurs < 7 days before now" the last week up to now. Future events are
// never "before".
//
// # Functions
//
// Strings: startsWith, doesNotStartWith, endsWith, doesNotEndWith, contains,
// doesNotContain, equals, notEqualTo take an optional caseSensitive flag
// (default true). like: % is any run of characters, _ one character,
// matching the whole string. matches(re) is true when re matches anywhere
// in the string (anchor with ^ and $); regexGroup(re, n) is group n of the
// first match. Regular expressions use Go's RE2 syntax, the common part of
// Java's (no lookaround or backreferences), run in linear time, and must be
// string literals.
//
// Arrays: intersects, intersection, subsetOf, supersetOf, includes,
// distinct, head, filter(cond), exists([cond]), map(expr), groupBy(key)
// (a map from key to the elements with it), topN(key, n) (the n elements
// with the highest key, highest first), bottomN (lowest first), count,
// sum, average, min, max (with an optional per-element expression).
// Maps: get, keys, values (values of a map of arrays flatten). Dates:
// getMonth, getYear, getDayOfMonth, currentMonth(), currentYear(),
// currentDayOfMonth(). inSegment("id") reads Subject.Segments through
// Options.SegmentSlot, or else the profile's segmentMembership (status
// realized or existing). if(test, a, b), mapEntry(k, v) and {"k": v}
// build values for computed attributes.
//
// # Quantifiers, comprehensions and chains
//
// exists E from A where P, I from E.items where Q holds when some E in A
// has P and some I in its items has Q; forall holds when every E has P and
// every I has Q. ":" may replace where. select V from A where P is true when
// some element matches. sum V.x over V from A where P folds the matching
// elements (count, min, max and average work too). let V = (e) in (body)
// evaluates e once.
//
// chain(xEvent, timestamp, [A: WHAT(c) WHERE(c) WHEN(t) COUNT(n), B: ...])
// is an ordered sequence: the events, in order of the time field, match A,
// then (strictly later in that order; events with the same time keep their
// order in Subject.Events) B, and so on; COUNT(n) needs n
// matching events for the step (default 1); WHEN(t) takes the occurs forms
// (WHEN(< 8 days before now), WHEN(today)). WHAT and WHERE are both
// conditions on the event.
//
// # What a query touches
//
// Analyze (and Plan.Info) lists the profile and event paths a query reads,
// whether it reads events, the inSegment ids it uses and whether it depends
// on the time, without a schema, so a store can load only those columns.
// DependencyOrder orders segments so each follows the ones it uses and
// reports cycles as *CycleError.
//
// # Evaluation by column
//
// CompileColumns compiles the common shapes of segment (conditions on one
// attribute each, inSegment, counts and sums of filtered xEvent, chain)
// into a ColumnPlan that a store laid out by column (Columns) evaluates
// for all its persons at once, as bitmaps, without building a profile. It
// evaluates each one-attribute condition with the row evaluator on each
// distinct value of the attribute, so both give the same results; other
// queries fail with ErrNotColumnar and are evaluated row by row.
package pql
