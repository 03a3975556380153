package platform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Wire types shared by the segmentation APIs (segment definitions, jobs,
// previews, export jobs), and the decoding of the Platform's loosely typed
// numbers: SW-SEG declares many counters and times as "number" (its
// examples print 1.23456789E+11 and an export job id of 100.0), Data
// Access writes sizes and times as strings. Decoding accepts all of them
// into int64; unknown fields are ignored everywhere.

// ProfileClass is the XDM Individual Profile class, as segment
// definitions, segment jobs and export jobs name it.
const ProfileClass = "_xdm.context.profile"

// ProfileInstance is the only profile instance, "ups".
const ProfileInstance = "ups"

// SchemaName names an XDM class or schema: {"name": "_xdm.context.profile"}
// (definitions may use {"id": "<$id>"} instead).
type SchemaName struct {
	Name string `json:"name,omitempty"`
	ID   string `json:"id,omitempty"`
}

// Sandbox is the sandbox an object lives in, as the segmentation API
// shows it.
type Sandbox struct {
	SandboxID   string `json:"sandboxId"`
	SandboxName string `json:"sandboxName"`
	Type        string `json:"type"` // production, development
	Default     bool   `json:"default"`
}

// UnmarshalJSON accepts default as a boolean or the string SW-SEG's
// example shows ("true").
func (s *Sandbox) UnmarshalJSON(b []byte) error {
	type plain Sandbox
	w := struct {
		*plain
		Default flexBool `json:"default"`
	}{plain: (*plain)(s)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	s.Default = bool(w.Default)
	return nil
}

// MergePolicyRef points at a merge policy and, optionally, one of its
// versions (0: the latest).
type MergePolicyRef struct {
	ID      string `json:"id"`
	Version int    `json:"version,omitempty"`
}

// UnmarshalJSON accepts a version written as a float (SW-SEG: 1.0).
func (m *MergePolicyRef) UnmarshalJSON(b []byte) error {
	type plain MergePolicyRef
	w := struct {
		*plain
		Version number `json:"version"`
	}{plain: (*plain)(m)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	m.Version = int(w.Version)
	return nil
}

// JobTiming is a phase of a job: its start, end and length, in ms (Unix
// ms for the instants). A running job shows only the start; fields not
// shown are 0.
type JobTiming struct {
	StartTimeInMs int64 `json:"startTimeInMs,omitempty"`
	EndTimeInMs   int64 `json:"endTimeInMs,omitempty"`
	TotalTimeInMs int64 `json:"totalTimeInMs,omitempty"`
}

// UnmarshalJSON accepts the numbers as floats (SW-SEG: 1.23456789E+11).
func (t *JobTiming) UnmarshalJSON(b []byte) error {
	var w struct {
		StartTimeInMs number `json:"startTimeInMs"`
		EndTimeInMs   number `json:"endTimeInMs"`
		TotalTimeInMs number `json:"totalTimeInMs"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = JobTiming{StartTimeInMs: int64(w.StartTimeInMs), EndTimeInMs: int64(w.EndTimeInMs), TotalTimeInMs: int64(w.TotalTimeInMs)}
	return nil
}

// JobError is an error a job reports in its errors list:
// {"code": "0100000003", "msg": "Error in Export Job", "callStack": "…"}.
type JobError struct {
	Code      string `json:"code"`
	Msg       string `json:"msg"`
	CallStack string `json:"callStack,omitempty"`
}

// UnmarshalJSON accepts a code written as a number (SW-SEG prints the
// code 8.0000018E7 of a segment job unquoted in places), keeping its text.
func (e *JobError) UnmarshalJSON(b []byte) error {
	type plain JobError
	w := struct {
		*plain
		Code json.RawMessage `json:"code"`
	}{plain: (*plain)(e)}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	e.Code = rawText(w.Code)
	return nil
}

func (e JobError) String() string {
	switch {
	case e.Code == "":
		return e.Msg
	case e.Msg == "":
		return e.Code
	}
	return e.Code + ": " + e.Msg
}

// rawText is a JSON scalar as text: a string's contents, a number's
// digits; null is "".
func rawText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// number is an int64 the Platform writes as a JSON integer, a float
// (1.0, 1.23456789E+11), a numeric string ("249058"), or null (0). A
// string that is not a number (a documentation placeholder such as "...")
// reads as 0 rather than failing the whole answer: these are counters and
// times, never ids.
type number int64

func (n *number) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*n = 0
		return nil
	}
	s := string(b)
	quoted := len(b) > 0 && b[0] == '"'
	if quoted {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
	}
	v, err := parseNumber(s)
	if err != nil {
		if quoted {
			*n = 0
			return nil
		}
		return fmt.Errorf("%s is not a number", excerpt(b))
	}
	*n = number(v)
	return nil
}

// parseNumber reads an integer, or a float that holds one (rounded).
func parseNumber(s string) (int64, error) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return int64(math.Round(f)), nil
}

// counts converts a map of numbers.
func counts(m map[string]number) map[string]int64 {
	if m == nil {
		return nil
	}
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = int64(v)
	}
	return out
}

// nestedCounts converts a map of maps of numbers.
func nestedCounts(m map[string]map[string]number) map[string]map[string]int64 {
	if m == nil {
		return nil
	}
	out := make(map[string]map[string]int64, len(m))
	for k, v := range m {
		out[k] = counts(v)
	}
	return out
}

// flexBool is a boolean written as true/false or "true"/"false".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	switch strings.ToLower(s) {
	case "true":
		*f = true
	case "false", "", "null":
		*f = false
	default:
		return fmt.Errorf("%s is not a boolean", excerpt(b))
	}
	return nil
}

// Link is a HAL link: {"href": "…"} (some carry the method to use).
type Link struct {
	Href   string `json:"href"`
	Method string `json:"method,omitempty"`
}
