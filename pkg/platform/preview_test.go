package platform

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// The reference's examples (aep-api.md §2).
const (
	refPreviewID     = "MDphcHAtMzJiZTAzMjgtM2YzMS00YjY0LThkODQtYWNkMGM0ZmJkYWQzOmU4OTAwNjhiLWY1Y2EtNGE4Zi1hNmI1LWFmODdmZjBjYWFjMzow"
	refPreviewAnswer = `{"state":"NEW","previewQueryId":"e890068b-f5ca-4a8f-a6b5-af87ff0caac3","previewQueryStatus":"NEW",
 "previewId":"` + refPreviewID + `","previewExecutionId":0}`
	refPreviewPage = `{"results":[{"XID_ADOBE-MARKETING-CLOUD-ID-1":{"_href":"https://platform.adobe.io/data/core/ups/models/profile/XID_ADOBE-MARKETING-CLOUD-ID-1",
   "endCustomerIds":{"XID_COOKIE_ID_1":{"_href":"https://platform.adobe.io/data/core/ups/models/profile/XID_COOKIE_ID_1"},"XID_PROFILE_ID_1":{"_href":"https://platform.adobe.io/data/core/ups/models/profile/XID_PROFILE_ID_1"}}}},
  {"XID_ADOBE-MARKETING-CLOUD-ID-2":{"_href":"https://platform.adobe.io/data/core/ups/models/profile/XID_ADOBE-MARKETING-CLOUD-ID-2","endCustomerIds":{}}},
  {"XID_ADOBE-MARKETING-CLOUD-ID-3":{"_href":"https://platform.adobe.io/data/core/ups/models/profile/XID_ADOBE-MARKETING-CLOUD-ID-3"}}],
 "state":"RESULT_READY","links":{"_self":"https://platform.adobe.io/data/core/ups/preview?expression=<expr-1>&limit=1000","next":"","prev":""},
 "page":{"offset":0,"size":3}}`
	refEstimate = `{"estimatedSize":4275,"numRowsToRead":4275,
 "estimatedNamespaceDistribution":[{"namespaceId":"4","profilesMatchedSoFar":35},{"namespaceId":"6","profilesMatchedSoFar":4275}],
 "state":"RESULT_READY","profilesReadSoFar":4275,"standardError":0,"error":{"description":"","traceback":""},
 "profilesMatchedSoFar":4275,"totalRows":4275,"confidenceInterval":"95%",
 "_links":{"preview":"https://platform.adobe.io/data/core/ups/preview/app-32be0328-3f31-4b64-8d84-acd0c4fbdad3/execution/0?previewQueryId=e890068b-f5ca-4a8f-a6b5-af87ff0caac3"}}`
)

func TestCreatePreview(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodPost, "/data/core/ups/preview", "")
		w.Header().Set("X-Location", "/data/core/ups/preview/"+refPreviewID)
		status(http.StatusCreated, refPreviewAnswer)(w, r)
	})
	p, err := f.client().CreatePreview(context.Background(), PreviewRequest{PredicateExpression: "xEvent.metrics.commerce.abandons.value > 0", GraphType: GraphNone})
	if err != nil {
		t.Fatal(err)
	}
	want := Preview{State: PreviewNew, PreviewQueryID: "e890068b-f5ca-4a8f-a6b5-af87ff0caac3", PreviewQueryStatus: PreviewNew, PreviewID: refPreviewID}
	if p != want {
		t.Fatalf("preview %+v", p)
	}
	_, bodies := f.requests()
	sameJSON(t, "preview body", bodies[0], `{"predicateExpression":"xEvent.metrics.commerce.abandons.value > 0","predicateType":"pql/text","predicateModel":"_xdm.context.profile","graphType":"none"}`)
}

func TestCreatePreviewIsRetried(t *testing.T) {
	f := newFake(t)
	f.handle(sequence(status(http.StatusServiceUnavailable, `{}`), status(http.StatusServiceUnavailable, `{}`), status(http.StatusCreated, refPreviewAnswer)))
	p, err := f.client().CreatePreview(context.Background(), PreviewRequest{PredicateExpression: "a = 1"})
	if err != nil || p.PreviewID != refPreviewID {
		t.Fatalf("%+v, %v", p, err)
	}
	if reqs, _ := f.requests(); len(reqs) != 3 {
		t.Fatalf("%d requests, want 3: a preview changes nothing, so it is retried", len(reqs))
	}
}

func TestEstimateAndWait(t *testing.T) {
	f := newFake(t)
	var polls atomic.Int32
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		// The id is escaped as one path segment.
		checkRequest(t, r, http.MethodGet, "/data/core/ups/estimate/ab+c%2Fd", "")
		switch n := polls.Add(1); {
		case n == 1:
			status(http.StatusOK, `{"state":"NEW","estimatedSize":0,"numRowsToRead":0,"profilesReadSoFar":0}`)(w, r)
		case n <= 1+int32(fastRetry.MaxAttempts):
			// A burst of 503s longer than the client's retries: the
			// wait sees the error and polls on.
			status(http.StatusServiceUnavailable, `{"error_code":"503000","message":"busy"}`)(w, r)
		case n == 2+int32(fastRetry.MaxAttempts):
			status(http.StatusOK, `{"state":"RUNNING","estimatedSize":3100,"numRowsToRead":4275,"profilesReadSoFar":2000.0,"profilesMatchedSoFar":"1450"}`)(w, r)
		default:
			status(http.StatusOK, refEstimate)(w, r)
		}
	})
	c := f.client()
	var seen []string
	e, err := c.WaitEstimate(context.Background(), "ab+c/d", WaitOptions{Poll: fastPollBackoff, OnPoll: func(s string, err error) {
		if err != nil {
			s = "error"
		}
		seen = append(seen, s)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(seen, ",") != "NEW,error,RUNNING,RESULT_READY" {
		t.Errorf("polls saw %v", seen)
	}
	if e.EstimatedSize != 4275 || e.NumRowsToRead != 4275 || e.TotalRows != 4275 || e.ConfidenceInterval != "95%" || !e.Done() ||
		len(e.EstimatedNamespaceDistribution) != 2 || e.EstimatedNamespaceDistribution[0] != (NamespaceEstimate{"4", 35}) ||
		!strings.Contains(e.Links.Preview, "/execution/0?previewQueryId=") || e.ConfidenceIntervalLow != nil {
		t.Fatalf("estimate %+v", e)
	}

	// A failed estimate is a *JobFailedError with the estimate's error.
	f.handle(status(http.StatusOK, `{"state":"FAILED","error":{"description":"field xEvent.foo is unknown","traceback":"at 1"}}`))
	_, err = c.WaitEstimate(context.Background(), "ab+c/d", WaitOptions{Poll: fastPollBackoff})
	var jf *JobFailedError
	if !errors.Is(err, ErrJobFailed) || !errors.As(err, &jf) || jf.Kind != "preview" || !strings.Contains(err.Error(), "xEvent.foo is unknown") {
		t.Fatalf("err = %v", err)
	}
}

func TestPreviewPages(t *testing.T) {
	var p PreviewPage
	if err := jsonDecode(refPreviewPage, &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Results) != 3 || p.State != PreviewResultReady || p.Page.Size != 3 {
		t.Fatalf("page %+v", p)
	}
	first := p.Results[0]
	if first.ID != "XID_ADOBE-MARKETING-CLOUD-ID-1" || !strings.HasSuffix(first.Href, "/XID_ADOBE-MARKETING-CLOUD-ID-1") || len(first.Related) != 2 ||
		first.Related[0].ID != "XID_COOKIE_ID_1" || first.Related[1].ID != "XID_PROFILE_ID_1" || !strings.HasSuffix(first.Related[1].Href, "/XID_PROFILE_ID_1") {
		t.Fatalf("first profile %+v", first)
	}
	if p.Results[2].ID != "XID_ADOBE-MARKETING-CLOUD-ID-3" || len(p.Results[2].Related) != 0 {
		t.Fatalf("third profile %+v", p.Results[2])
	}
	if _, ok := p.NextOffset(); ok {
		t.Error("the last page has a next page")
	}
	// SW-SEG's shape.
	var q PreviewPage
	if err := jsonDecode(`{"results":[{"objectId":"A","_href":"/h/A","relatedObjects":[{"objectId":"B","_href":"/h/B"}]}],"state":"RESULT_READY","link":"/preview/x","page":{"offset":0,"size":1}}`, &q); err != nil {
		t.Fatal(err)
	}
	if len(q.Results) != 1 || q.Results[0].ID != "A" || q.Results[0].Related[0] != (PreviewObject{"B", "/h/B"}) || q.Link != "/preview/x" {
		t.Fatalf("SW-SEG page %+v", q)
	}
}

func TestPreviewProfilesPages(t *testing.T) {
	f := newFake(t)
	const total = 7
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodGet, "/data/core/ups/preview/"+refPreviewID, "-")
		q := r.URL.Query()
		offset, _ := strconv.Atoi(q.Get("offset"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		var results []string
		for i := offset; i < total && i < offset+limit; i++ {
			results = append(results, `{"ECID:`+strconv.Itoa(i)+`":{"_href":"/p/`+strconv.Itoa(i)+`","endCustomerIds":{}}}`)
		}
		next := ""
		if offset+limit < total {
			next = "/data/core/ups/preview/x?offset=" + strconv.Itoa(offset+limit) + "&limit=" + strconv.Itoa(limit)
		}
		status(http.StatusOK, `{"results":[`+strings.Join(results, ",")+`],"state":"RESULT_READY","links":{"_self":"","next":"`+next+`","prev":""},"page":{"offset":`+strconv.Itoa(offset)+`,"size":`+strconv.Itoa(len(results))+`}}`)(w, r)
	})
	c := f.client()
	all, err := c.PreviewProfiles(context.Background(), refPreviewID, 3, 0)
	if err != nil || len(all) != total || all[6].ID != "ECID:6" {
		t.Fatalf("all %+v, %v", all, err)
	}
	some, err := c.PreviewProfiles(context.Background(), refPreviewID, 3, 4)
	if err != nil || len(some) != 4 || some[3].ID != "ECID:3" {
		t.Fatalf("some %+v, %v", some, err)
	}
	reqs, _ := f.requests()
	var queries []string
	for _, r := range reqs {
		queries = append(queries, r.URL.RawQuery)
	}
	if got := strings.Join(queries, " "); got != "limit=3 limit=3&offset=3 limit=3&offset=6 limit=3 limit=1&offset=3" {
		t.Errorf("queries %s", got)
	}

	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodDelete, "/data/core/ups/preview/"+refPreviewID, "")
		status(http.StatusOK, `{"status":true,"message":"deleted"}`)(w, r)
	})
	if err := c.DeletePreview(context.Background(), refPreviewID); err != nil {
		t.Fatal(err)
	}
}
