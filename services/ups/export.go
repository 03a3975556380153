package ups

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Export jobs (aep-api.md §4, SW-SEG /export/jobs): write the merged
// profiles of a sandbox, or the members of some segments, as Parquet files
// into a new batch of a dataset on the profile union schema. This file
// holds the job and its validation; export_store.go persistence;
// export_run.go the runner; export_parquet.go the Parquet writer;
// export_http.go the HTTP API. dataaccess_http.go serves the files.
//
// What ups does not do, and says so with a 400 rather than pretending:
// evaluationInfo.segmentation (run a segment job first) and the event
// list's ingestion-time filter (events keep no ingestion time).

const exportJobsBase = "/data/core/ups/export/jobs"

// Export job statuses. A cancelled job ends FAILED with an error saying
// so (the Platform documents no cancelled status for exports).
const (
	exportNew        = "NEW"
	exportProcessing = "PROCESSING"
	exportSucceeded  = "SUCCEEDED"
	exportFailed     = "FAILED"
)

// Errors of the internal API.
var (
	// errExportJobNotFound is also what another org's or sandbox's job
	// looks like.
	errExportJobNotFound = errors.New("export job not found")
)

// exportUnprocessableError is a well-formed request that names something
// unusable (a dataset that does not exist or is not on the union schema,
// an unknown merge policy): 422. Its message is safe to show.
type exportUnprocessableError struct{ detail string }

func (e *exportUnprocessableError) Error() string { return e.detail }

func exportUnprocessablef(format string, args ...any) error {
	return &exportUnprocessableError{detail: fmt.Sprintf(format, args...)}
}

// ExportJob is an export job as the API serves it.
type ExportJob struct {
	ID                  int64              `json:"id"`
	JobType             string             `json:"jobType"`
	Destination         exportDestination  `json:"destination"`
	Fields              string             `json:"fields,omitempty"`
	Schema              schemaNameView     `json:"schema"`
	ImsOrgID            string             `json:"imsOrgId"`
	Sandbox             sandboxView        `json:"sandbox"`
	Status              string             `json:"status"`
	Filter              *exportFilter      `json:"filter,omitempty"`
	AdditionalFields    *exportAdditional  `json:"additionalFields,omitempty"`
	MergePolicy         exportPolicyRef    `json:"mergePolicy"`
	ProfileInstanceID   string             `json:"profileInstanceId"`
	Metrics             exportMetrics      `json:"metrics"`
	Errors              []exportJobError   `json:"errors,omitempty"`
	ComputeGatewayJobID exportComputeJobID `json:"computeGatewayJobId"`
	CreationTime        int64              `json:"creationTime"` // Unix ms
	UpdateTime          int64              `json:"updateTime"`   // Unix ms
	RequestID           string             `json:"requestId"`
}

type exportDestination struct {
	DatasetID       string `json:"datasetId"`
	SegmentPerBatch bool   `json:"segmentPerBatch"`
	// BatchID is the batch the profiles go to (segmentPerBatch false).
	BatchID string `json:"batchId,omitempty"`
	// Batches are the batches of each segment (segmentPerBatch true).
	Batches []exportSegmentBatch `json:"batches,omitempty"`
}

type exportSegmentBatch struct {
	SegmentID string   `json:"segmentId"`
	SegmentNs string   `json:"segmentNs"`
	Status    []string `json:"status"`
	BatchID   string   `json:"batchId"`
}

type exportFilter struct {
	Segments                 []exportSegmentFilter `json:"segments,omitempty"`
	SegmentQualificationTime *exportTimeRange      `json:"segmentQualificationTime,omitempty"`
	FromIngestTimestamp      string                `json:"fromIngestTimestamp,omitempty"`
	EmptyProfiles            bool                  `json:"emptyProfiles"`
}

type exportSegmentFilter struct {
	SegmentID string   `json:"segmentId"`
	SegmentNs string   `json:"segmentNs"`
	Status    []string `json:"status"`
}

type exportTimeRange struct {
	StartTime string `json:"startTime,omitempty"`
	EndTime   string `json:"endTime,omitempty"`
}

type exportAdditional struct {
	EventList *exportEventList `json:"eventList,omitempty"`
}

type exportEventList struct {
	Fields string `json:"fields,omitempty"`
}

type exportPolicyRef struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
}

// exportMetrics are a job's timings and counters. A job that has not
// finished shows only the start times.
type exportMetrics struct {
	TotalTime                         *exportTiming    `json:"totalTime,omitempty"`
	ProfileExportTime                 *exportTiming    `json:"profileExportTime,omitempty"`
	ACPDatasetWriteTime               *exportTiming    `json:"aCPDatasetWriteTime,omitempty"`
	TotalExportedProfileCounter       int64            `json:"totalExportedProfileCounter"`
	ExportedProfileByNamespaceCounter map[string]int64 `json:"exportedProfileByNamespaceCounter"`
}

// exportTiming is a start, an end and their difference, in Unix ms.
type exportTiming struct {
	StartTimeInMs int64 `json:"startTimeInMs"`
	EndTimeInMs   int64 `json:"endTimeInMs,omitempty"`
	TotalTimeInMs int64 `json:"totalTimeInMs,omitempty"`
}

func startTiming(ms int64) *exportTiming { return &exportTiming{StartTimeInMs: ms} }

func (t *exportTiming) stop(ms int64) {
	if t != nil {
		t.EndTimeInMs = ms
		t.TotalTimeInMs = ms - t.StartTimeInMs
	}
}

// exportJobError is a job-embedded error (aep-api.md §6, shape 3).
type exportJobError struct {
	Code      string `json:"code"`
	Msg       string `json:"msg"`
	CallStack string `json:"callStack,omitempty"`
}

// Job error codes: the documented one for any failure of the export, and
// one of ups's own for a cancellation.
const (
	exportErrCode       = "0100000003"
	exportCancelledCode = "0100000010"
	exportCallStack     = "com.adobe.aep.unifiedprofile.export.ExportJob"
)

type exportComputeJobID struct {
	ExportJob string `json:"exportJob"`
}

// batchIDs are the job's destination batches.
func (j *ExportJob) batchIDs() []string {
	if !j.Destination.SegmentPerBatch {
		return []string{j.Destination.BatchID}
	}
	ids := make([]string, len(j.Destination.Batches))
	for i, b := range j.Destination.Batches {
		ids[i] = b.BatchID
	}
	return ids
}

func exportFinal(status string) bool { return status == exportSucceeded || status == exportFailed }

// exportRequest types a create body, so that a wrong type is a 400 that
// names the field.
type exportRequest struct {
	Fields      *string `json:"fields"`
	MergePolicy *struct {
		ID      string `json:"id"`
		Version *int   `json:"version"`
	} `json:"mergePolicy"`
	Filter *struct {
		Segments []struct {
			SegmentID string   `json:"segmentId"`
			SegmentNs string   `json:"segmentNs"`
			Status    []string `json:"status"`
		} `json:"segments"`
		SegmentQualificationTime *exportTimeRange `json:"segmentQualificationTime"`
		FromIngestTimestamp      string           `json:"fromIngestTimestamp"`
		EmptyProfiles            *bool            `json:"emptyProfiles"`
	} `json:"filter"`
	AdditionalFields *struct {
		EventList *struct {
			Fields *string `json:"fields"`
			Filter *struct {
				FromIngestTimestamp string `json:"fromIngestTimestamp"`
				ToIngestTimestamp   string `json:"toIngestTimestamp"`
			} `json:"filter"`
		} `json:"eventList"`
	} `json:"additionalFields"`
	Destination *struct {
		DatasetID       string `json:"datasetId"`
		DataSetID       string `json:"dataSetId"` // the casing one doc example uses
		SegmentPerBatch bool   `json:"segmentPerBatch"`
	} `json:"destination"`
	Schema *struct {
		Name string `json:"name"`
	} `json:"schema"`
	EvaluationInfo *struct {
		Segmentation bool `json:"segmentation"`
	} `json:"evaluationInfo"`
}

// Bounds on a request.
const (
	maxExportFields   = 500
	maxExportPathLen  = 256
	maxExportSegments = 100
)

// parseExportRequest reads a create body into the client's part of a job
// (the server fills in ids, batches, the merge policy's version, times).
// Errors are *badRequestError naming the field.
func parseExportRequest(body []byte) (ExportJob, error) {
	var req exportRequest
	if err := decodeObject(body, &req); err != nil {
		return ExportJob{}, err
	}
	j := ExportJob{JobType: "BATCH", Schema: schemaNameView{Name: profileClass}}
	if req.Destination == nil {
		return j, badRequestf("destination is required: {\"datasetId\": \"<id of a dataset on the profile union schema>\"}")
	}
	j.Destination.DatasetID = cmp.Or(req.Destination.DatasetID, req.Destination.DataSetID)
	if strings.TrimSpace(j.Destination.DatasetID) == "" {
		return j, badRequestf("destination.datasetId is required: the id of a dataset on the profile union schema")
	}
	j.Destination.SegmentPerBatch = req.Destination.SegmentPerBatch
	if req.Schema != nil {
		name, err := policySchema(req.Schema.Name)
		if err != nil {
			return j, badRequestf("schema.name %q is not supported: export jobs export %s", truncate(req.Schema.Name, 100), profileClass)
		}
		j.Schema.Name = name
	}
	if req.Fields != nil {
		if _, err := parseFieldList("fields", *req.Fields); err != nil {
			return j, err
		}
		j.Fields = strings.TrimSpace(*req.Fields)
	}
	if req.MergePolicy != nil {
		if req.MergePolicy.ID == "" {
			return j, badRequestf("mergePolicy.id is required when mergePolicy is given")
		}
		j.MergePolicy.ID = req.MergePolicy.ID
		if v := req.MergePolicy.Version; v != nil {
			if *v < 1 {
				return j, badRequestf("mergePolicy.version %d is invalid: versions start at 1", *v)
			}
			j.MergePolicy.Version = *v
		}
	}
	if f := req.Filter; f != nil {
		j.Filter = &exportFilter{}
		if len(f.Segments) > maxExportSegments {
			return j, badRequestf("filter.segments lists %d segments: at most %d", len(f.Segments), maxExportSegments)
		}
		for i, s := range f.Segments {
			if strings.TrimSpace(s.SegmentID) == "" {
				return j, badRequestf("filter.segments[%d].segmentId is required", i)
			}
			sf := exportSegmentFilter{SegmentID: s.SegmentID, SegmentNs: cmp.Or(s.SegmentNs, "ups"), Status: s.Status}
			if len(sf.Status) == 0 {
				sf.Status = []string{"realized", "existing"}
			}
			for _, st := range sf.Status {
				if _, ok := parseMemberStatus(st); !ok {
					return j, badRequestf("filter.segments[%d].status %q is invalid: use realized, existing or exited", i, truncate(st, 50))
				}
			}
			j.Filter.Segments = append(j.Filter.Segments, sf)
		}
		if q := f.SegmentQualificationTime; q != nil {
			for _, t := range []struct{ name, v string }{{"startTime", q.StartTime}, {"endTime", q.EndTime}} {
				if t.v == "" {
					continue
				}
				if _, err := time.Parse(time.RFC3339Nano, t.v); err != nil {
					return j, badRequestf("filter.segmentQualificationTime.%s %q is not an RFC 3339 date-time", t.name, truncate(t.v, 50))
				}
			}
			if len(f.Segments) == 0 {
				return j, badRequestf("filter.segmentQualificationTime needs filter.segments: it bounds when their members qualified")
			}
			j.Filter.SegmentQualificationTime = q
		}
		if f.FromIngestTimestamp != "" {
			if _, err := time.Parse(time.RFC3339Nano, f.FromIngestTimestamp); err != nil {
				return j, badRequestf("filter.fromIngestTimestamp %q is not an RFC 3339 date-time", truncate(f.FromIngestTimestamp, 50))
			}
			j.Filter.FromIngestTimestamp = f.FromIngestTimestamp
		}
		if f.EmptyProfiles != nil {
			j.Filter.EmptyProfiles = *f.EmptyProfiles
		}
	}
	if j.Destination.SegmentPerBatch && (j.Filter == nil || len(j.Filter.Segments) == 0) {
		return j, badRequestf("destination.segmentPerBatch needs filter.segments: one batch is written per segment")
	}
	if a := req.AdditionalFields; a != nil && a.EventList != nil {
		el := &exportEventList{}
		if a.EventList.Fields != nil {
			if _, err := parseFieldList("additionalFields.eventList.fields", *a.EventList.Fields); err != nil {
				return j, err
			}
			el.Fields = strings.TrimSpace(*a.EventList.Fields)
		}
		if f := a.EventList.Filter; f != nil && (f.FromIngestTimestamp != "" || f.ToIngestTimestamp != "") {
			return j, badRequestf("additionalFields.eventList.filter (fromIngestTimestamp, toIngestTimestamp) is not supported by ups: it keeps no ingestion time per event; leave it out to export every event of the profiles")
		}
		j.AdditionalFields = &exportAdditional{EventList: el}
	}
	if req.EvaluationInfo != nil && req.EvaluationInfo.Segmentation {
		return j, badRequestf("evaluationInfo.segmentation is not supported by ups: run a segment job (POST /data/core/ups/segment/jobs) first, then export its members")
	}
	return j, nil
}

// parseFieldList splits a comma-separated list of dotted paths ("" or
// only spaces: none, which means every field).
func parseFieldList(name, s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > maxExportFields {
		return nil, badRequestf("%s lists %d fields: at most %d", name, len(parts), maxExportFields)
	}
	paths := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, badRequestf("%s %q has an empty field: write dotted paths separated by commas, as in person.name.firstName,homeAddress.city", name, truncate(s, 100))
		}
		if len(p) > maxExportPathLen || strings.ContainsAny(p, " \t\r\n\"'[]()") || slices.Contains(strings.Split(p, "."), "") {
			return nil, badRequestf("%s: %q is not a dotted field path, as in person.name.firstName", name, truncate(p, 100))
		}
		paths = append(paths, p)
	}
	return paths, nil
}
