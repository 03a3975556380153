package ups

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Catalog is the Platform's system of record for datasets and batches
// (aep-api.md §4, §5). This file holds its objects; catalog_api.go the
// internal API the rest of ups uses, catalog_store.go persistence,
// catalog_http.go and catalog_query.go the HTTP API.

const (
	catalogBase = "/data/foundation/catalog"
	// objectVersion is the semantic version a new Catalog object starts at.
	objectVersion = "1.0.0"
)

// Errors of the internal API. Handlers map them to Catalog's error shape;
// callers in ups test them with errors.Is / errors.As.
var (
	// errDatasetNotFound is also what another org's or sandbox's dataset
	// looks like: isolation never reveals that an id exists.
	errDatasetNotFound = errors.New("dataset not found")
	errBatchNotFound   = errors.New("batch not found")
	// errBatchClosed: the batch already reached a final status, which
	// never changes (a redelivered "complete" must not rewrite metrics).
	errBatchClosed = errors.New("batch is already in a final status")
)

// badRequestError is a caller mistake; its message is safe to show.
type badRequestError struct{ detail string }

func (e *badRequestError) Error() string { return e.detail }

func badRequestf(format string, args ...any) error {
	return &badRequestError{detail: fmt.Sprintf(format, args...)}
}

// XDM schemas ups knows. Datasets must use one: ingestion validates records
// against the class, and exports are written in the profile union schema.
const (
	schemaProfile      = "https://ns.adobe.com/xdm/context/profile"
	schemaEvent        = "https://ns.adobe.com/xdm/context/experienceevent"
	schemaProfileUnion = "https://ns.adobe.com/xdm/context/profile__union"
)

// canonicalSchema resolves a schema $id or meta:altId to the $id.
func canonicalSchema(id string) (string, bool) {
	switch id {
	case schemaProfile, "_xdm.context.profile":
		return schemaProfile, true
	case schemaEvent, "_xdm.context.experienceevent":
		return schemaEvent, true
	case schemaProfileUnion, "_xdm.context.profile__union":
		return schemaProfileUnion, true
	}
	return "", false
}

const knownSchemasText = schemaProfile + " (_xdm.context.profile), " +
	schemaEvent + " (_xdm.context.experienceevent), " +
	schemaProfileUnion + " (_xdm.context.profile__union)"

// schemaRef points a dataset at its XDM schema.
type schemaRef struct {
	ID          string `json:"id"`
	ContentType string `json:"contentType,omitempty"`
}

// dataset is a Catalog dataset as stored. Values handed out are copies
// whose maps and slices are shared with the index: treat them as read-only.
type dataset struct {
	ID              string              `json:"id"`
	Org             string              `json:"imsOrg"`
	Sandbox         string              `json:"sandboxName"`
	Name            string              `json:"name"`
	Description     string              `json:"description,omitempty"`
	SchemaRef       schemaRef           `json:"schemaRef"`
	Tags            map[string][]string `json:"tags"`
	FileDescription json.RawMessage     `json:"fileDescription,omitempty"`
	Created         int64               `json:"created"` // Unix ms
	Updated         int64               `json:"updated"` // Unix ms
	CreatedClient   string              `json:"createdClient"`
	ViewID          string              `json:"viewId"`
	Version         string              `json:"version"`
	// Extra holds the create body's other top-level fields, served back as
	// given: Catalog is permissive and clients round-trip their own fields.
	Extra map[string]json.RawMessage `json:"extra,omitempty"`
}

// schemaClass is the canonical $id of the dataset's schema.
func (d dataset) schemaClass() string {
	id, _ := canonicalSchema(d.SchemaRef.ID) // validated at creation
	return id
}

// profileEnabled reports whether records ingested into the dataset reach
// the profile store: tags.unifiedProfile holds "enabled:true" (Adobe's
// examples write it with and without the space).
func (d dataset) profileEnabled() bool {
	for _, v := range d.Tags["unifiedProfile"] {
		if strings.ReplaceAll(strings.ToLower(v), " ", "") == "enabled:true" {
			return true
		}
	}
	return false
}

// object is the dataset as Catalog serves it (without its id, the key).
func (d dataset) object() map[string]any {
	m := make(map[string]any, len(d.Extra)+16)
	for k, v := range d.Extra {
		m[k] = v
	}
	m["name"] = d.Name
	if d.Description != "" {
		m["description"] = d.Description
	}
	m["imsOrg"] = d.Org
	m["created"] = d.Created
	m["updated"] = d.Updated
	m["createdClient"] = d.CreatedClient
	m["createdUser"] = d.CreatedClient + "@AdobeID"
	m["updatedUser"] = d.CreatedClient + "@AdobeID"
	m["schemaRef"] = d.SchemaRef
	m["tags"] = nonNilTags(d.Tags)
	if len(d.FileDescription) > 0 {
		m["fileDescription"] = d.FileDescription
	}
	m["files"] = "@/dataSetFiles?dataSetId=" + d.ID
	m["viewId"] = d.ViewID
	m["version"] = d.Version
	return m
}

// Batch statuses (Catalog's enum). Ingestion drives
// loading → processing → success | failed, or loading → aborted.
const (
	batchLoading    = "loading"
	batchProcessing = "processing"
	batchSuccess    = "success"
	batchFailed     = "failed"
	batchAborted    = "aborted"
)

// validBatchStatus: s is in Catalog's batch status enum. Statuses other
// than the four ingestion uses are stored as given.
func validBatchStatus(s string) bool {
	switch s {
	case "processing", "success", "failure", "queued", "retrying", "stalled", "aborted", "abandoned",
		"inactive", "failed", "loading", "loaded", "staged", "active", "staging", "deleted":
		return true
	}
	return false
}

// finalBatchStatus: the batch is over; nothing about it changes any more
// except being deleted.
func finalBatchStatus(s string) bool {
	switch s {
	case batchSuccess, batchFailed, "failure", "aborted", "abandoned", "deleted":
		return true
	}
	return false
}

// inputFormat is how a batch's files are encoded (batch ingestion's
// inputFormat).
type inputFormat struct {
	Format          string `json:"format"`
	IsMultiLineJSON bool   `json:"isMultiLineJson,omitempty"`
}

// batchMetrics are a batch's record counts and processing times (Unix ms).
type batchMetrics struct {
	RecordsRead    int64 `json:"recordsRead"`
	RecordsWritten int64 `json:"recordsWritten"`
	RecordsFailed  int64 `json:"recordsFailed"`
	StartTime      int64 `json:"startTime,omitempty"`
	EndTime        int64 `json:"endTime,omitempty"`
}

// batchError is one entry of a batch's errors: a code, a description and
// the rows ("3" or "3-5") it applies to.
type batchError struct {
	Code        string   `json:"code"`
	Description string   `json:"description,omitempty"`
	Rows        []string `json:"rows,omitempty"`
}

// maxBatchErrors bounds the errors kept on a batch: they are a summary
// (row-level failures belong to Data Access's /batches/{id}/failed), and
// every status read serves them.
const maxBatchErrors = 100

// batch is a Catalog batch as stored. Values handed out are copies whose
// maps and slices are shared with the index: treat them as read-only.
type batch struct {
	ID            string              `json:"id"`
	Org           string              `json:"imsOrg"`
	Sandbox       string              `json:"sandboxName"`
	DatasetID     string              `json:"dataSetId"`
	Status        string              `json:"status"`
	InputFormat   inputFormat         `json:"inputFormat"`
	Metrics       batchMetrics        `json:"metrics"`
	Errors        []batchError        `json:"errors"`
	Tags          map[string][]string `json:"tags"`
	Created       int64               `json:"created"`
	Updated       int64               `json:"updated"`
	CreatedClient string              `json:"createdClient"`
	UpdatedClient string              `json:"updatedClient"`
	// Revision counts changes; the served version is 1.0.<Revision>.
	Revision int `json:"revision"`
}

// owner is a Caller in the batch's org and sandbox, for work that resumes
// a batch without a request (after a restart, say).
func (b batch) owner() Caller {
	return Caller{ClientID: b.CreatedClient, Org: b.Org, Sandbox: b.Sandbox}
}

// object is the batch as Catalog serves it (without its id, the key).
func (b batch) object() map[string]any {
	errs := b.Errors
	if errs == nil {
		errs = []batchError{}
	}
	return map[string]any{
		"imsOrg":         b.Org,
		"status":         b.Status,
		"created":        b.Created,
		"updated":        b.Updated,
		"createdClient":  b.CreatedClient,
		"createdUser":    b.CreatedClient + "@AdobeID",
		"updatedUser":    b.UpdatedClient + "@AdobeID",
		"relatedObjects": []map[string]string{{"type": "dataSet", "id": b.DatasetID}},
		"metrics":        b.Metrics,
		"errors":         errs,
		"inputFormat":    b.InputFormat,
		"tags":           nonNilTags(b.Tags),
		"version":        fmt.Sprintf("1.0.%d", b.Revision),
	}
}

func nonNilTags(t map[string][]string) map[string][]string {
	if t == nil {
		return map[string][]string{}
	}
	return t
}

// catalogID is a new Catalog object id: 24 lowercase hex digits, like
// Catalog's own (Mongo ObjectId-sized).
func catalogID() string { return randomHex(12) }

// isCatalogID reports whether s has the shape of a catalogID, which makes
// it safe as a file name.
func isCatalogID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// catalogRoutes registers the Catalog endpoints.
func (s *Server) catalogRoutes(api func(string, http.HandlerFunc)) {
	(&catalogHTTP{cat: s.catalog, maxBody: s.cfg.MaxBodyBytes, log: s.log}).register(api)
}
