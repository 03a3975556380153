package platform

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// The reference's export job request and job (aep-api.md §4), the
// elided parts filled in.
const (
	refExportRequest = `{"fields":"identities.id,personalEmail.address",
 "mergePolicy":{"id":"timestampOrdered-none-mp","version":1},
 "filter":{"segments":[{"segmentId":"52c26d0d-45f2-47a2-ab30-ed06abc981ff","segmentNs":"ups","status":["realized"]}],
           "segmentQualificationTime":{"startTime":"2018-01-01T00:00:00Z","endTime":"2018-02-01T00:00:00Z"},
           "fromIngestTimestamp":"2018-01-01T00:00:00Z","emptyProfiles":true},
 "additionalFields":{"eventList":{"fields":"_id, _experience","filter":{"fromIngestTimestamp":"2018-01-01T00:00:00Z","toIngestTimestamp":"2020-01-01T00:00:00Z"}}},
 "destination":{"datasetId":"5b7c86968f7b6501e21ba9df","segmentPerBatch":false},
 "schema":{"name":"_xdm.context.profile"},
 "evaluationInfo":{"segmentation":true}}`

	refExportJob = `{"id":100,"jobType":"BATCH","destination":{"datasetId":"5b7c86968f7b6501e21ba9df","segmentPerBatch":false,"batchId":"da5cfb4de32c4b93a09f7e37fa53ad52"},
 "fields":"identities.id,personalEmail.address","schema":{"name":"_xdm.context.profile"},"imsOrgId":"{ORG_ID}","status":"SUCCEEDED",
 "filter":{"segments":[{"segmentId":"52c26d0d-45f2-47a2-ab30-ed06abc981ff","segmentNs":"ups","status":["realized"]}],"fromIngestTimestamp":"2018-01-01T00:00:00Z","emptyProfiles":true},
 "additionalFields":{"eventList":{"fields":"_id, _experience"}},
 "mergePolicy":{"id":"timestampOrdered-none-mp","version":1},"profileInstanceId":"ups",
 "metrics":{"totalTime":{"startTimeInMs":123456789000,"endTimeInMs":123456799000,"totalTimeInMs":10000},
            "profileExportTime":{"startTimeInMs":123456789000,"endTimeInMs":123456799000,"totalTimeInMs":10000},
            "aCPDatasetWriteTime":{"startTimeInMs":123456789000,"endTimeInMs":123456799000,"totalTimeInMs":10000},
            "totalExportedProfileCounter":20,"exportedProfileByNamespaceCounter":{"namespace1":10,"namespace2":5}},
 "errors":[],"computeGatewayJobId":{"exportJob":"f3058161-7349-4ca9-807d-212cee2c2e94","pushJob":"feaeca05-d137-4605-aa4e-21d19d801fc6"},
 "creationTime":1538615973895,"updateTime":1538616233239,"requestId":"d995479c-8a08-4240-903b-af469c67be1f"}`
)

func TestCreateExportJobSendsTheWholeRequest(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodPost, "/data/core/ups/export/jobs", "")
		if got := r.Header.Get("x-profile-instance-id"); got != "ups" {
			t.Errorf("x-profile-instance-id %q", got)
		}
		w.Header().Set("X-Location", "/data/core/ups/export/jobs/100")
		status(http.StatusOK, strings.Replace(refExportJob, `"SUCCEEDED"`, `"NEW"`, 1))(w, r)
	})
	req := ExportJobRequest{
		Fields:      "identities.id,personalEmail.address",
		MergePolicy: &MergePolicyRef{ID: "timestampOrdered-none-mp", Version: 1},
		Filter: &ExportFilter{
			Segments:                 []SegmentFilter{{SegmentID: "52c26d0d-45f2-47a2-ab30-ed06abc981ff", SegmentNs: "ups", Status: []string{MembershipRealized}}},
			SegmentQualificationTime: &TimeRange{StartTime: "2018-01-01T00:00:00Z", EndTime: "2018-02-01T00:00:00Z"},
			FromIngestTimestamp:      "2018-01-01T00:00:00Z",
			EmptyProfiles:            true,
		},
		AdditionalFields: &AdditionalFields{EventList: &EventList{
			Fields: "_id, _experience",
			Filter: &EventFilter{FromIngestTimestamp: "2018-01-01T00:00:00Z", ToIngestTimestamp: "2020-01-01T00:00:00Z"},
		}},
		Destination:    ExportDestination{DatasetID: "5b7c86968f7b6501e21ba9df"},
		EvaluationInfo: &ExportEvaluationInfo{Segmentation: true},
	}
	j, err := f.client().CreateExportJob(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	_, bodies := f.requests()
	sameJSON(t, "export request", bodies[0], refExportRequest)
	if j.ID != 100 || j.Status != ExportNew || j.Done() || j.Destination.BatchID != "da5cfb4de32c4b93a09f7e37fa53ad52" {
		t.Fatalf("job %+v", j)
	}

	// The least request: a dataset; the schema is filled in.
	if _, err := f.client().CreateExportJob(context.Background(), ExportJobRequest{Destination: ExportDestination{DatasetID: "ds"}}); err != nil {
		t.Fatal(err)
	}
	_, bodies = f.requests()
	sameJSON(t, "least request", bodies[1], `{"destination":{"datasetId":"ds","segmentPerBatch":false},"schema":{"name":"_xdm.context.profile"}}`)
	if _, err := f.client().CreateExportJob(context.Background(), ExportJobRequest{}); err == nil {
		t.Fatal("an export without a dataset was sent")
	}
}

func TestCreateExportJobIsNotRetriedAfterA5xx(t *testing.T) {
	f := newFake(t)
	f.handle(status(http.StatusBadGateway, `<html>bad gateway</html>`))
	_, err := f.client().CreateExportJob(context.Background(), ExportJobRequest{Destination: ExportDestination{DatasetID: "ds"}})
	if !errors.Is(err, ErrUnavailable) || !Transient(err) {
		t.Fatalf("err = %v", err)
	}
	if reqs, _ := f.requests(); len(reqs) != 1 {
		t.Fatalf("%d requests, want 1: a second export would write the profiles twice", len(reqs))
	}
}

func TestExportJobDecodesTheReference(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodGet, "/data/core/ups/export/jobs/100", "")
		status(http.StatusOK, refExportJob)(w, r)
	})
	j, err := f.client().ExportJob(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	m := j.Metrics
	if j.ID != 100 || j.JobType != "BATCH" || !j.Done() || j.MergePolicy != (MergePolicyRef{"timestampOrdered-none-mp", 1}) || j.Filter == nil ||
		!j.Filter.EmptyProfiles || j.Filter.Segments[0].Status[0] != MembershipRealized || j.AdditionalFields.EventList.Fields != "_id, _experience" ||
		j.ComputeGatewayJobID.PushJob != "feaeca05-d137-4605-aa4e-21d19d801fc6" || j.CreationTime != 1538615973895 || j.RequestID == "" {
		t.Fatalf("job %+v", j)
	}
	if m.TotalExportedProfileCounter != 20 || m.ExportedProfileByNamespaceCounter["namespace2"] != 5 || m.ACPDatasetWriteTime.TotalTimeInMs != 10000 {
		t.Fatalf("metrics %+v", m)
	}
	if ids := j.BatchIDs(); len(ids) != 1 || ids[0] != "da5cfb4de32c4b93a09f7e37fa53ad52" {
		t.Fatalf("batch ids %v", ids)
	}

	// SW-SEG's id 100.0 and float times; the doc's segmentPerBatch shape,
	// with its dataSetId casing.
	var j2 ExportJob
	if err := json.Unmarshal([]byte(`{"id":100.0,"status":"SUCCEEDED","metrics":{"totalTime":{"startTimeInMs":1.23456789E+11,"totalTimeInMs":10000.0},"totalExportedProfileCounter":20.0},
		"destination":{"dataSetId":"5b7c","segmentPerBatch":true,"batches":[{"segmentId":"s1","segmentNs":"ups","status":["realized"],"batchId":"b1"},{"segmentId":"s2","segmentNs":"ups","status":["realized"],"batchId":"b2"}]}}`), &j2); err != nil {
		t.Fatal(err)
	}
	if j2.ID != 100 || j2.Metrics.TotalTime.StartTimeInMs != 123456789000 || j2.Metrics.TotalExportedProfileCounter != 20 ||
		j2.Destination.DatasetID != "5b7c" || !j2.Destination.SegmentPerBatch || strings.Join(j2.BatchIDs(), ",") != "b1,b2" {
		t.Fatalf("job %+v", j2)
	}
	for _, bad := range []string{`{"id":1.5}`, `{"id":"x"}`, `{"id":-1}`} {
		var j3 ExportJob
		if err := json.Unmarshal([]byte(bad), &j3); err == nil {
			t.Errorf("%s decoded as id %d", bad, j3.ID)
		}
	}
	for s, want := range map[string]ExportJobID{"100": 100, "9007199254740993": 9007199254740993} {
		if id, err := ParseExportJobID(s); err != nil || id != want || id.String() != s {
			t.Errorf("ParseExportJobID(%s) = %d, %v", s, id, err)
		}
	}
}

func TestListAndFindExportJobs(t *testing.T) {
	f := newFake(t)
	job := func(id, ds string) string {
		return `{"id":` + id + `,"status":"SUCCEEDED","destination":{"datasetId":"` + ds + `","segmentPerBatch":false,"batchId":"b` + id + `"}}`
	}
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodGet, "/data/core/ups/export/jobs", "-")
		switch off := r.URL.Query().Get("offset"); off {
		case "":
			status(http.StatusOK, `{"records":[`+job("96", "ds1")+`,`+job("95", "ds2")+`],"page":{"sortField":"createdTime","sort":"desc","pageOffset":"1540974701302_96","pageSize":2},"link":{"next":"/export/jobs/?limit=2&offset=1538573416687_95"}}`)(w, r)
		case "1538573416687_95":
			status(http.StatusOK, `{"records":[`+job("90", "ds1")+`],"page":{"pageSize":1},"link":{"next":""}}`)(w, r)
		default:
			t.Errorf("offset %q", off)
		}
	})
	c := f.client()
	p, err := c.ListExportJobs(context.Background(), ExportJobListOptions{Limit: 2, Status: ExportSucceeded})
	if err != nil {
		t.Fatal(err)
	}
	if next, ok := p.NextOffset(); !ok || next != "1538573416687_95" || len(p.Jobs) != 2 || p.Page.PageOffset != "1540974701302_96" {
		t.Fatalf("page %+v", p)
	}
	reqs, _ := f.requests()
	if reqs[0].URL.RawQuery != "limit=2&status=SUCCEEDED" {
		t.Errorf("query %s", reqs[0].URL.RawQuery)
	}
	found, err := c.FindExportJobs(context.Background(), "ds1")
	if err != nil || len(found) != 2 || found[0].ID != 96 || found[1].ID != 90 {
		t.Fatalf("found %+v, %v", found, err)
	}
}

func TestCancelAndWaitExportJob(t *testing.T) {
	f := newFake(t)
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		checkRequest(t, r, http.MethodDelete, "/data/core/ups/export/jobs/100", "")
		status(http.StatusOK, `{"status":true,"message":"Export job has been marked for cancelling"}`)(w, r)
	})
	c := f.client()
	if err := c.CancelExportJob(context.Background(), 100); err != nil {
		t.Fatal(err)
	}

	processing := strings.Replace(refExportJob, `"SUCCEEDED"`, `"PROCESSING"`, 1)
	var polls atomic.Int32
	f.handle(func(w http.ResponseWriter, r *http.Request) {
		switch polls.Add(1) {
		case 1:
			status(http.StatusTooManyRequests, `[{"message":"Too many requests","retryAfterMs":"20","statusCode":"429"}]`)(w, r)
		case 2, 3:
			status(http.StatusOK, processing)(w, r)
		default:
			status(http.StatusOK, refExportJob)(w, r)
		}
	})
	j, err := c.WaitExportJob(context.Background(), 100, WaitOptions{Poll: fastPollBackoff})
	if err != nil || j.Status != ExportSucceeded || j.Metrics.TotalExportedProfileCounter != 20 {
		t.Fatalf("WaitExportJob = %+v, %v", j, err)
	}

	f.handle(status(http.StatusOK, `{"id":100,"status":"FAILED","errors":[{"code":"0100000003","msg":"Error in Export Job","callStack":"com.adobe.aep.unifiedprofile.common.logging.Logger"}]}`))
	_, err = c.WaitExportJob(context.Background(), 100, WaitOptions{Poll: fastPollBackoff})
	var jf *JobFailedError
	if !errors.Is(err, ErrJobFailed) || !errors.As(err, &jf) || jf.ID != "100" || jf.Kind != "export job" || jf.Errors[0].Code != "0100000003" {
		t.Fatalf("err = %v", err)
	}
}
