package platform

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The reference's examples (aep-api.md §1), with the elided parts filled.
const (
	refDefinitionRequest = `{"name":"People who ordered in the last 30 days","profileInstanceId":"ups","description":"Last 30 days",
 "expression":{"type":"PQL","format":"pql/text","value":"workAddress.country = \"US\""},
 "evaluationInfo":{"batch":{"enabled":true},"continuous":{"enabled":false},"synchronous":{"enabled":false}},
 "schema":{"name":"_xdm.context.profile"},"payloadSchema":"string","ttlInDays":60}`

	refDefinition = `{"id":"4afe34ae-8c98-4513-8a1d-67ccaa54bc05","schema":{"name":"_xdm.context.profile"},"ttlInDays":60,
 "profileInstanceId":"ups","imsOrgId":"{ORG_ID}",
 "sandbox":{"sandboxId":"28e74200-e3de-11e9-8f5d-7f27416c5f0d","sandboxName":"prod","type":"production","default":true},
 "name":"People who ordered in the last 30 days","description":"Last 30 days",
 "expression":{"type":"PQL","format":"pql/text","value":"workAddress.country = \"US\""},
 "evaluationInfo":{"batch":{"enabled":true},"continuous":{"enabled":false},"synchronous":{"enabled":false}},
 "mergePolicyId":"5ed35fd8-6eeb-4ad2-bed9-43e695b8ac0b","dataGovernancePolicy":{"excludeOptOut":true},
 "creationTime":0,"updateEpoch":1579292094,"updateTime":1579292094000}`

	refConversionJSON = `{"nodeType":"fnApply","fnName":"=","params":[{"nodeType":"fieldLookup","fieldName":"country","object":{"nodeType":"fieldLookup","fieldName":"workAddress","object":{"nodeType":"parameterReference","position":1}}},{"nodeType":"literal","literalType":"String","value":"US"}]}`
)

func TestCreateSegmentDefinition(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodPost, "/data/core/ups/segment/definitions", "")
		w.Header().Set("X-Location", "/data/core/ups/segment/definitions/4afe34ae-8c98-4513-8a1d-67ccaa54bc05")
		status(http.StatusOK, refDefinition)(w, r) // 200, not 201
	})
	c := f.client()
	def, err := c.CreateSegmentDefinition(context.Background(), SegmentDefinition{
		Name:           "People who ordered in the last 30 days",
		Description:    "Last 30 days",
		Expression:     PQL(`workAddress.country = "US"`),
		EvaluationInfo: &EvaluationInfo{Batch: EvaluationMode{Enabled: true}},
		PayloadSchema:  "string",
		TTLInDays:      60,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, bodies := f.requests()
	sameJSON(t, "create body", bodies[0], refDefinitionRequest)
	if def.ID != "4afe34ae-8c98-4513-8a1d-67ccaa54bc05" || def.MergePolicyID != "5ed35fd8-6eeb-4ad2-bed9-43e695b8ac0b" ||
		def.Sandbox == nil || def.Sandbox.SandboxName != "prod" || !def.Sandbox.Default || def.UpdateTime != 1579292094000 ||
		def.UpdateEpoch != 1579292094 || def.Expression.Value != `workAddress.country = "US"` || !def.DataGovernance.ExcludeOptOut ||
		def.EvaluationInfo == nil || !def.EvaluationInfo.Batch.Enabled {
		t.Fatalf("definition %+v", def)
	}
}

func TestCreateSegmentDefinitionIsNotRetriedAfterA5xx(t *testing.T) {
	f := newFake(t)
	f.handle(status(http.StatusServiceUnavailable, `{"type":"https://ns.adobe.com/aep/errors/UPLIB-101554-503","title":"Service unavailable","status":503}`))
	c := f.client()
	_, err := c.CreateSegmentDefinition(context.Background(), SegmentDefinition{Name: "x", Expression: PQL("a = 1")})
	var pe *Error
	if !errors.As(err, &pe) || !errors.Is(err, ErrUnavailable) || pe.Code != "UPLIB-101554" || !Transient(err) {
		t.Fatalf("err = %#v", err)
	}
	if reqs, _ := f.requests(); len(reqs) != 1 {
		t.Fatalf("%d requests, want 1: a retried create could make a second definition", len(reqs))
	}

	// A 429 refused the request: it is repeated, after its Retry-After.
	f2 := newFake(t)
	f2.handle(sequence(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "0.2")
			status(http.StatusTooManyRequests, `{"error_code":"429050","message":"Too many requests"}`)(w, r)
		},
		status(http.StatusOK, refDefinition),
	))
	start := time.Now()
	def, err := f2.client().CreateSegmentDefinition(context.Background(), SegmentDefinition{Name: "x", Expression: PQL("a = 1")})
	if err != nil || def.ID == "" {
		t.Fatalf("after a 429: %+v, %v", def, err)
	}
	if el := time.Since(start); el < 200*time.Millisecond {
		t.Errorf("retried after %s, before the Retry-After", el)
	}
}

func TestSegmentDefinitionNameTaken(t *testing.T) {
	f := newFake(t)
	f.handle(status(http.StatusUnprocessableEntity, `{"requestId":"r-1","errors":{"422":[{"code":422,"message":"A segment definition named x already exists."}]},
		"type":"https://ns.adobe.com/aep/errors/UPAPI-113434-422","title":"A segment definition named x already exists.","status":422}`))
	_, err := f.client().CreateSegmentDefinition(context.Background(), SegmentDefinition{Name: "x", Expression: PQL("a = 1")})
	var pe *Error
	if !errors.As(err, &pe) || !errors.Is(err, ErrBadRequest) || pe.Code != "UPAPI-113434" || pe.RequestID != "r-1" || !strings.Contains(pe.Message, "already exists") {
		t.Fatalf("err = %#v", err)
	}
	if _, err := f.client().CreateSegmentDefinition(context.Background(), SegmentDefinition{Name: "no expression"}); err == nil {
		t.Fatal("a definition without an expression was sent")
	}
}

func TestGetUpdateDeleteSegmentDefinition(t *testing.T) {
	f := newFake(t)
	const path = "/data/core/ups/segment/definitions/4afe34ae-8c98-4513-8a1d-67ccaa54bc05"
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			checkRequest(t, r, http.MethodGet, path, "")
			status(http.StatusOK, refDefinition)(w, r)
		case http.MethodPatch:
			checkRequest(t, r, http.MethodPatch, path, "")
			_, bodies := f.requests() // the fake read the body
			w.Header().Set("X-Location", path)
			status(http.StatusOK, bodies[len(bodies)-1])(w, r)
		case http.MethodDelete:
			checkRequest(t, r, http.MethodDelete, path, "")
			status(http.StatusOK, `{"status":true,"message":"The segment definition was deleted."}`)(w, r)
		}
	})
	c := f.client()
	ctx := context.Background()
	def, err := c.SegmentDefinition(ctx, "4afe34ae-8c98-4513-8a1d-67ccaa54bc05")
	if err != nil {
		t.Fatal(err)
	}
	def.Description = "changed"
	def.Expression = PQL(`workAddress.country = "CA"`)
	got, err := c.UpdateSegmentDefinition(ctx, def)
	if err != nil {
		t.Fatal(err)
	}
	if got.Description != "changed" || got.Expression.Value != `workAddress.country = "CA"` || got.ID != def.ID {
		t.Fatalf("updated %+v", got)
	}
	_, bodies := f.requests()
	// PATCH sends the whole object, as read and changed.
	want := strings.Replace(strings.Replace(refDefinition, `"Last 30 days"`, `"changed"`, 1), `workAddress.country = \"US\"`, `workAddress.country = \"CA\"`, 1)
	want = strings.Replace(want, `"creationTime":0,`, ``, 1) // zero, omitted
	sameJSON(t, "patch body", bodies[1], want)
	if err := c.DeleteSegmentDefinition(ctx, def.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateSegmentDefinition(ctx, SegmentDefinition{Name: "no id"}); err == nil {
		t.Fatal("an update without an id was sent")
	}
}

func TestUpdateSegmentDefinitionIsRetried(t *testing.T) {
	f := newFake(t)
	f.handle(sequence(status(http.StatusServiceUnavailable, `{}`), status(http.StatusBadGateway, `<html></html>`), status(http.StatusOK, refDefinition)))
	def, err := f.client().UpdateSegmentDefinition(context.Background(), SegmentDefinition{ID: "4afe34ae-8c98-4513-8a1d-67ccaa54bc05", Name: "n", Expression: PQL("a = 1")})
	if err != nil || def.ID == "" {
		t.Fatalf("%+v, %v", def, err)
	}
	if reqs, _ := f.requests(); len(reqs) != 3 {
		t.Fatalf("%d requests, want 3: a whole-object PATCH is safe to repeat", len(reqs))
	}
}

func TestListAndFindSegmentDefinitions(t *testing.T) {
	f := newFake(t)
	page := func(names ...string) string {
		var segs []string
		for i, n := range names {
			segs = append(segs, `{"id":"id-`+n+`","name":"`+n+`","schema":{"name":"_xdm.context.profile"},"expression":{"type":"PQL","format":"pql/text","value":"a = `+string(rune('0'+i))+`"},"ttlInDays":30}`)
		}
		return `{"segments":[` + strings.Join(segs, ",") + `],"page":{"totalCount":3,"totalPages":2,"sortField":"creationTime","sort":"asc","pageSize":` + string(rune('0'+len(names))) + `,"limit":2},"link":{}}`
	}
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/data/core/ups/segment/definitions" || q.Get("sort") != "creationTime:asc" || q.Get("limit") != "100" {
			t.Errorf("list %s", r.URL)
		}
		switch q.Get("page") {
		case "1":
			// A server that ignores limit=100 and pages by 2 still gets
			// walked: totalPages says there is more.
			status(http.StatusOK, page("a", "b"))(w, r)
		case "2":
			status(http.StatusOK, page("b"))(w, r)
		default:
			t.Errorf("page %q asked", q.Get("page"))
			status(http.StatusOK, page())(w, r)
		}
	})
	c := f.client()
	found, err := c.FindSegmentDefinitions(context.Background(), "b")
	if err != nil || len(found) != 2 || found[0].ID != "id-b" {
		t.Fatalf("found %+v, %v", found, err)
	}

	// The reference's list example, and the query of every option.
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodGet, "/data/core/ups/segment/definitions",
			"evaluationInfo.batch.enabled=true&evaluationInfo.continuous.enabled=false&limit=10&page=2&sort=updateTime%3Adesc&start=5")
		status(http.StatusOK, `{"segments":[`+refDefinition+`],"page":{"totalCount":2,"totalPages":1,"sortField":"creationTime","sort":"desc","pageSize":2,"limit":100},"link":{"next":{"href":"@/segment/definitions?start=1"}}}`)(w, r)
	})
	yes, no := true, false
	p, err := c.ListSegmentDefinitions(context.Background(), SegmentDefinitionListOptions{Limit: 10, Page: 2, Start: 5, Sort: "updateTime:desc", Batch: &yes, Continuous: &no})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Segments) != 1 || p.Page.TotalCount != 2 || p.Page.Limit != 100 || p.Page.SortField != "creationTime" || p.Link.Next != "@/segment/definitions?start=1" {
		t.Fatalf("page %+v", p)
	}
}

func TestConvertExpression(t *testing.T) {
	for _, answer := range []string{
		// value as a JSON string (SW-SEG), and as an object
		`{"imsOrgId":"{ORG_ID}","sandbox":{"sandboxId":"s","sandboxName":"prod","type":"production","default":true},"expression":{"type":"PQL","format":"pql/json","value":` + quoteJSON(refConversionJSON) + `}}`,
		`{"imsOrgId":"{ORG_ID}","expression":{"type":"PQL","format":"pql/json","value":` + refConversionJSON + `}}`,
	} {
		f := newFake(t)
		f.handle(sequence(
			status(http.StatusServiceUnavailable, `{}`), // a conversion stores nothing: retried
			func(w http.ResponseWriter, r *http.Request) {
				checkRequest(t, r, http.MethodPost, "/data/core/ups/segment/conversion", "")
				status(http.StatusOK, answer)(w, r)
			}))
		got, err := f.client().ConvertExpression(context.Background(), PQL(`workAddress.country = "US"`))
		if err != nil {
			t.Fatal(err)
		}
		if got.Format != FormatPQLJSON || compactJSON(got.Value) != compactJSON(refConversionJSON) {
			t.Fatalf("converted %+v", got)
		}
		_, bodies := f.requests()
		sameJSON(t, "conversion body", bodies[1], `{"profileInstanceId":"ups","schema":{"name":"_xdm.context.profile"},"expression":{"type":"PQL","format":"pql/text","value":"workAddress.country = \"US\""}}`)
	}
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s))
	b.WriteByte('"')
	return b.String()
}
