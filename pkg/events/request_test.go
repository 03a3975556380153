package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const minimalRequest = `{"definition":{"name":"Cart abandoners","expression":{"value":"person.homeAddress.countryCode = \"US\""}}}`

func TestParseRequest(t *testing.T) {
	full := `{
		"requestId": "req-42",
		"sandbox": "dev-1",
		"definition": {
			"name": "US cart abandoners",
			"description": "abandoned a cart this week",
			"schema": {"name": "_xdm.context.profile"},
			"expression": {"type": "PQL", "format": "pql/text", "value": "homeAddress.countryCode = \"US\""},
			"mergePolicyId": "mp-1"
		},
		"estimate": {"enabled": true, "minSize": 10, "maxSize": 5000},
		"export": {
			"fields": "identities.id, personalEmail.address",
			"datasetName": "US abandoners",
			"filter": {"fromIngestTimestamp": "2026-01-01T00:00:00Z"},
			"additionalFields": {"eventList": {"fields": ["_id", "timestamp"], "filter": {"fromIngestTimestamp": "2026-01-01T00:00:00Z", "toIngestTimestamp": "2026-02-01T00:00:00Z"}}}
		},
		"labels": {"team": "growth", "campaign": "spring"}
	}`
	i64 := func(v int64) *int64 { return &v }
	wantFull := Request{
		RequestID: "req-42",
		Sandbox:   "dev-1",
		Definition: Definition{
			Name:          "US cart abandoners",
			Description:   "abandoned a cart this week",
			Schema:        Schema{Name: "_xdm.context.profile"},
			Expression:    Expression{Type: "PQL", Format: "pql/text", Value: `homeAddress.countryCode = "US"`},
			MergePolicyID: "mp-1",
		},
		Estimate: &EstimateRequest{Enabled: true, MinSize: i64(10), MaxSize: i64(5000)},
		Export: &ExportRequest{
			Fields:      FieldList{"identities.id", "personalEmail.address"},
			DatasetName: "US abandoners",
			Filter:      &ExportFilter{FromIngestTimestamp: "2026-01-01T00:00:00Z"},
			AdditionalFields: &AdditionalFields{EventList: &EventList{
				Fields: FieldList{"_id", "timestamp"},
				Filter: &EventFilter{FromIngestTimestamp: "2026-01-01T00:00:00Z", ToIngestTimestamp: "2026-02-01T00:00:00Z"},
			}},
		},
		Labels: Labels{"team": "growth", "campaign": "spring"},
	}
	envelope := func(data string) string {
		return `{"specversion":"1.0","id":"evt-1","source":"/crm","type":"com.example.segment.requested","time":"2026-03-01T10:00:00Z","datacontenttype":"application/json","data":` + data + `}`
	}
	minimalDefaults := Request{
		Sandbox: "prod",
		Definition: Definition{
			Name:       "Cart abandoners",
			Schema:     Schema{Name: DefaultSchema},
			Expression: Expression{Type: "PQL", Format: "pql/text", Value: `person.homeAddress.countryCode = "US"`},
		},
	}
	withID := func(r Request, id string) Request { r.RequestID = id; return r }

	tests := []struct {
		name      string
		body      string
		want      *Request // nil: not compared
		wantField string   // "-" for a whole-message error; "" for no error
	}{
		{name: "bare full", body: full, want: &wantFull},
		{name: "envelope full", body: envelope(full), want: &wantFull},
		{name: "bare minimal gets defaults and no id", body: minimalRequest, want: &minimalDefaults},
		{name: "envelope without requestId derives it", body: envelope(minimalRequest),
			want: ptr(withID(minimalDefaults, DeriveRequestID("/crm\x00evt-1")))},
		{name: "unknown top-level field tolerated", body: `{"future":{"x":1},` + minimalRequest[1:], want: &minimalDefaults},
		{name: "extension attribute tolerated", body: strings.Replace(envelope(minimalRequest), `"id"`, `"traceparent":"00-x","id"`, 1), want: ptr(withID(minimalDefaults, DeriveRequestID("/crm\x00evt-1")))},
		{name: "pql/json", body: `{"definition":{"name":"n","expression":{"format":"pql/json","value":"{\"nodeType\":\"literal\",\"literalType\":\"Boolean\",\"value\":true}"}}}`},

		{name: "missing name", body: `{"definition":{"expression":{"value":"true"}}}`, wantField: "definition.name"},
		{name: "blank name", body: `{"definition":{"name":"  ","expression":{"value":"true"}}}`, wantField: "definition.name"},
		{name: "missing definition", body: `{"requestId":"a"}`, wantField: "definition.name"},
		{name: "missing expression", body: `{"definition":{"name":"n"}}`, wantField: "definition.expression.value"},
		{name: "empty expression value", body: `{"definition":{"name":"n","expression":{"value":""}}}`, wantField: "definition.expression.value"},
		{name: "bad format", body: `{"definition":{"name":"n","expression":{"format":"sql","value":"x"}}}`, wantField: "definition.expression.format"},
		{name: "bad type", body: `{"definition":{"name":"n","expression":{"type":"SQL","value":"x"}}}`, wantField: "definition.expression.type"},
		{name: "pql/json not JSON", body: `{"definition":{"name":"n","expression":{"format":"pql/json","value":"a = 1"}}}`, wantField: "definition.expression.value"},
		{name: "expression too long", body: `{"definition":{"name":"n","expression":{"value":"` + strings.Repeat("a", MaxExpressionLength+1) + `"}}}`, wantField: "definition.expression.value"},
		{name: "name is a number", body: `{"definition":{"name":7,"expression":{"value":"x"}}}`, wantField: "definition.name"},
		{name: "expression is a string", body: `{"definition":{"name":"n","expression":"x = 1"}}`, wantField: "definition.expression"},
		{name: "requestId is a number", body: `{"requestId":5,` + minimalRequest[1:], wantField: "requestId"},
		{name: "requestId with a space", body: `{"requestId":"a b",` + minimalRequest[1:], wantField: "requestId"},
		{name: "requestId too long", body: `{"requestId":"` + strings.Repeat("a", 129) + `",` + minimalRequest[1:], wantField: "requestId"},
		{name: "labels not strings", body: `{"labels":{"a":1},` + minimalRequest[1:], wantField: "labels"},
		{name: "labels an array", body: `{"labels":["a"],` + minimalRequest[1:], wantField: "labels"},
		{name: "bad sandbox", body: `{"sandbox":"Prod",` + minimalRequest[1:], wantField: "sandbox"},
		{name: "minSize a string", body: `{"estimate":{"enabled":true,"minSize":"10"},` + minimalRequest[1:], wantField: "estimate.minSize"},
		{name: "minSize fractional", body: `{"estimate":{"enabled":true,"minSize":1.5},` + minimalRequest[1:], wantField: "estimate.minSize"},
		{name: "negative maxSize", body: `{"estimate":{"enabled":true,"maxSize":-1},` + minimalRequest[1:], wantField: "estimate.maxSize"},
		{name: "min above max", body: `{"estimate":{"enabled":true,"minSize":10,"maxSize":5},` + minimalRequest[1:], wantField: "estimate.maxSize"},
		{name: "bounds without enabled", body: `{"estimate":{"maxSize":5},` + minimalRequest[1:], wantField: "estimate.enabled"},
		{name: "enabled not a bool", body: `{"estimate":{"enabled":"yes"},` + minimalRequest[1:], wantField: "estimate.enabled"},
		{name: "fields a number", body: `{"export":{"fields":3},` + minimalRequest[1:], wantField: "export.fields"},
		{name: "bad fromIngestTimestamp", body: `{"export":{"filter":{"fromIngestTimestamp":"yesterday"}},` + minimalRequest[1:], wantField: "export.filter.fromIngestTimestamp"},
		{name: "event window reversed", body: `{"export":{"additionalFields":{"eventList":{"filter":{"fromIngestTimestamp":"2026-02-01T00:00:00Z","toIngestTimestamp":"2026-01-01T00:00:00Z"}}}},` + minimalRequest[1:], wantField: "export.additionalFields.eventList.filter.toIngestTimestamp"},
		{name: "unknown nested field", body: `{"estimate":{"enabled":true,"minsize":3},` + minimalRequest[1:], wantField: "estimate.minsize"},
		{name: "unknown export field", body: `{"export":{"format":"csv"},` + minimalRequest[1:], wantField: "export.format"},
		{name: "top-level field in another case", body: `{"requestID":"x",` + minimalRequest[1:], wantField: "requestID"},
		{name: "not JSON", body: `{"definition":`, wantField: "-"},
		{name: "an array", body: `[1,2]`, wantField: "-"},
		{name: "null", body: `null`, wantField: "-"},
		{name: "envelope bad specversion", body: strings.Replace(envelope(minimalRequest), `"1.0"`, `"0.3"`, 1), wantField: "specversion"},
		{name: "envelope without data", body: `{"specversion":"1.0","id":"e","source":"/s","type":"t"}`, wantField: "data"},
		{name: "envelope with null data", body: envelope("null"), wantField: "data"},
		{name: "envelope with base64 data", body: `{"specversion":"1.0","id":"e","source":"/s","type":"t","data_base64":"e30="}`, wantField: "data_base64"},
		{name: "envelope without id", body: `{"specversion":"1.0","source":"/s","type":"t","data":{}}`, wantField: "id"},
		{name: "envelope xml", body: strings.Replace(envelope(minimalRequest), "application/json", "application/xml", 1), wantField: "datacontenttype"},
		{name: "envelope bad time", body: strings.Replace(envelope(minimalRequest), "2026-03-01T10:00:00Z", "March 1st", 1), wantField: "time"},
		{name: "envelope data invalid", body: envelope(`{"definition":{"name":"n"}}`), wantField: "definition.expression.value"},
		{name: "envelope data wrong type", body: envelope(`{"definition":{"name":true}}`), wantField: "definition.name"},
		{name: "envelope data an array", body: envelope(`[]`), wantField: "data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRequest([]byte(tt.body))
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("ParseRequest: %v", err)
				}
				if tt.want != nil && !reflect.DeepEqual(got, *tt.want) {
					t.Fatalf("got  %+v\nwant %+v", got, *tt.want)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v (%T), want a *ValidationError", err, err)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) is false")
			}
			want := tt.wantField
			if want == "-" {
				want = ""
			}
			if ve.Field != want {
				t.Errorf("Field = %q, want %q (reason %q)", ve.Field, want, ve.Reason)
			}
			if ve.Reason == "" {
				t.Errorf("empty reason")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A rejected request still yields its id and labels, for the rejection
// event.
func TestParseRequestKeepsIDAndLabelsOnError(t *testing.T) {
	r, err := ParseRequest([]byte(`{"requestId":"r-1","labels":{"team":"growth"},"definition":{"name":"n"}}`))
	if err == nil {
		t.Fatal("want an error")
	}
	if r.RequestID != "r-1" || r.Labels["team"] != "growth" {
		t.Fatalf("got %+v", r)
	}
}

func TestRequestRoundTrip(t *testing.T) {
	r, err := ParseRequest([]byte(`{"requestId":"r","definition":{"name":"n","expression":{"value":"a = 1"}},"export":{"fields":["a.b","c"]},"labels":{"k":"v"}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"fields":"a.b,c"`) {
		t.Errorf("fields not encoded comma-separated: %s", b)
	}
	again, err := ParseRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r, again) {
		t.Fatalf("round trip:\n%+v\n%+v", r, again)
	}
}

func TestValidateLabels(t *testing.T) {
	many := Labels{}
	for i := range MaxLabels + 1 {
		many[strings.Repeat("k", i+1)] = "v"
	}
	for name, l := range map[string]Labels{
		"too many":   many,
		"blank key":  {" ": "v"},
		"long key":   {strings.Repeat("k", MaxLabelKeyLength+1): "v"},
		"long value": {"k": strings.Repeat("v", MaxLabelValueLength+1)},
		"control":    {"a\nb": "v"},
	} {
		r, _ := ParseRequest([]byte(minimalRequest))
		r.Labels = l
		var ve *ValidationError
		if err := r.Validate(); !errors.As(err, &ve) || !strings.HasPrefix(ve.Field, "labels") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-([45])[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestRequestIDs(t *testing.T) {
	a, b := NewRequestID(), NewRequestID()
	if a == b {
		t.Fatal("two random ids are equal")
	}
	if m := uuidRE.FindStringSubmatch(a); m == nil || m[1] != "4" {
		t.Fatalf("NewRequestID = %q, want a v4 UUID", a)
	}
	d := DeriveRequestID("SEGFLOW/42")
	if m := uuidRE.FindStringSubmatch(d); m == nil || m[1] != "5" {
		t.Fatalf("DeriveRequestID = %q, want a v5 UUID", d)
	}
	if d != DeriveRequestID("SEGFLOW/42") || d == DeriveRequestID("SEGFLOW/43") {
		t.Fatal("DeriveRequestID is not a function of its seed")
	}
	for _, id := range []string{a, d, "req-1", "crm/campaign=7.v2", "A_b-C"} {
		if err := ValidateRequestID(id); err != nil {
			t.Errorf("ValidateRequestID(%q) = %v", id, err)
		}
	}
	for _, id := range []string{"", ".a", "a.", "a..b", "a b", "a:b", "a*", "a>", "é", strings.Repeat("a", 129)} {
		if err := ValidateRequestID(id); err == nil {
			t.Errorf("ValidateRequestID(%q) passed", id)
		}
	}
}

func TestParseRequestInTheDefaultSandbox(t *testing.T) {
	for body, want := range map[string]string{
		`{"definition": {"name": "x", "expression": {"value": "true"}}}`:                    "dev",
		`{"sandbox": "prod", "definition": {"name": "x", "expression": {"value": "true"}}}`: "prod",
	} {
		r, err := ParseRequestIn([]byte(body), "dev")
		if err != nil || r.Sandbox != want {
			t.Errorf("%s: sandbox %q (%v), want %q", body, r.Sandbox, err, want)
		}
	}
	if r, _ := ParseRequest([]byte(`{"definition": {"name": "x", "expression": {"value": "true"}}}`)); r.Sandbox != DefaultSandbox {
		t.Errorf("ParseRequest: sandbox %q", r.Sandbox)
	}
}
