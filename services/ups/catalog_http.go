package ups

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/rs/zerolog"
)

// catalogHTTP serves the Catalog API over a catalog.
type catalogHTTP struct {
	cat     *catalog
	maxBody int64
	log     zerolog.Logger
}

func (h *catalogHTTP) register(api func(string, http.HandlerFunc)) {
	api("POST "+catalogBase+"/dataSets", h.createDataset)
	api("GET "+catalogBase+"/dataSets", h.listDatasets)
	api("GET "+catalogBase+"/dataSets/{id}", h.getDataset)
	api("GET "+catalogBase+"/batches", h.listBatches)
	api("GET "+catalogBase+"/batches/{id}", h.getBatch)
}

// datasetRequest types the known fields of a create body, so that a wrong
// type is a 400 that names the field. Other fields are kept as given.
type datasetRequest struct {
	Name            string                     `json:"name"`
	Description     string                     `json:"description"`
	SchemaRef       *schemaRef                 `json:"schemaRef"`
	Schema          string                     `json:"schema"` // legacy: the schema's URI
	Tags            map[string][]string        `json:"tags"`
	FileDescription map[string]json.RawMessage `json:"fileDescription"`
	// Checked for type only, then kept with the other fields.
	EnableErrorDiagnostics *bool                      `json:"enableErrorDiagnostics"`
	ObservableSchema       map[string]json.RawMessage `json:"observableSchema"`
	DataSourceID           *int64                     `json:"dataSourceId"`
}

// datasetTypedFields are stored in typed form, not in dataset.Extra.
// datasetServerFields are Catalog's to set: a client's values are dropped.
const (
	datasetTypedFields  = "name description schemaRef schema tags fileDescription"
	datasetServerFields = "id imsOrg sandboxName created updated createdClient createdUser updatedUser viewId files version basePath"
)

// POST /dataSets
func (h *catalogHTTP) createDataset(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	body, ok := readBody(w, r, h.maxBody)
	if !ok {
		return
	}
	in, err := parseDatasetBody(body)
	if err != nil {
		h.fail(w, err)
		return
	}
	d, err := h.cat.createDataset(caller, in)
	if err != nil {
		h.fail(w, err)
		return
	}
	w.Header().Set("Location", catalogBase+"/dataSets/"+d.ID)
	writeJSON(w, http.StatusCreated, []string{"@/dataSets/" + d.ID})
}

// parseDatasetBody checks a create body's JSON and the types of its known
// fields; createDataset checks the values.
func parseDatasetBody(body []byte) (datasetInput, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && !json.Valid(trimmed) {
		return datasetInput{}, badRequestf("The request body is not valid JSON: %s", jsonProblem(json.Unmarshal(trimmed, new(any))))
	}
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return datasetInput{}, badRequestf("The request body must be a JSON object describing the dataset.")
	}
	var req datasetRequest
	if err := json.Unmarshal(trimmed, &req); err != nil {
		return datasetInput{}, badRequestf("The request body is not valid: %s", jsonProblem(err))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return datasetInput{}, badRequestf("The request body is not valid: %s", jsonProblem(err))
	}
	in := datasetInput{
		Name:        req.Name,
		Description: req.Description,
		Tags:        req.Tags,
		Extra:       map[string]json.RawMessage{},
	}
	switch {
	case req.SchemaRef != nil:
		in.SchemaRef = *req.SchemaRef
	case req.Schema != "":
		in.SchemaRef = schemaRef{ID: req.Schema}
	}
	if req.FileDescription != nil {
		in.FileDescription = raw["fileDescription"]
	}
	for k, v := range raw {
		// encoding/json matches field names without regard to case, so a
		// "Name" was read as name: don't keep it twice.
		if !hasFieldFold(datasetTypedFields, k) && !hasFieldFold(datasetServerFields, k) {
			in.Extra[k] = v
		}
	}
	return in, nil
}

func hasFieldFold(list, name string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, name) {
			return true
		}
	}
	return false
}

// jsonProblem says what is wrong with a JSON document in a client's terms.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return fmt.Sprintf("got a JSON %s where an object was expected", typ.Value)
		}
		return fmt.Sprintf("field %q must be %s, not a JSON %s", field, jsonKind(typ.Type), typ.Value)
	case err != nil:
		return err.Error()
	}
	return "unknown problem"
}

// jsonKind names the JSON a Go type is decoded from.
func jsonKind(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(jsonKind(t.Elem()), "a "), "an ") + "s"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.Kind().String()
}

// GET /dataSets
func (h *catalogHTTP) listDatasets(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	q := r.URL.Query()
	lq, err := parseListQuery(q)
	if err != nil {
		h.fail(w, err)
		return
	}
	// Catalog's documented name=value filters are exact matches.
	for _, p := range []string{"name", "description", "createdClient", "created", "updated", "version", "viewId"} {
		if q.Has(p) {
			lq.filters = append(lq.filters, equalsFilter([]string{p}, q.Get(p)))
		}
	}
	writeObjects(w, lq.apply(h.cat.datasetObjects(caller)))
}

// GET /dataSets/{id}
func (h *catalogHTTP) getDataset(w http.ResponseWriter, r *http.Request) {
	h.getOne(w, r, h.cat.datasetObject)
}

// GET /batches
func (h *catalogHTTP) listBatches(w http.ResponseWriter, r *http.Request) {
	caller, _ := CallerFrom(r.Context())
	q := r.URL.Query()
	lq, err := parseListQuery(q)
	if err != nil {
		h.fail(w, err)
		return
	}
	for _, p := range []string{"status", "createdClient", "created", "updated", "version"} {
		if q.Has(p) {
			lq.filters = append(lq.filters, equalsFilter([]string{p}, q.Get(p)))
		}
	}
	if q.Has("dataSet") {
		lq.filters = append(lq.filters, equalsFilter([]string{"relatedObjects", "id"}, q.Get("dataSet")))
	}
	// Catalog's createdAfter and createdBefore are exclusive.
	for _, p := range []struct {
		param string
		op    filterOp
	}{{"createdAfter", opGt}, {"createdBefore", opLt}} {
		if q.Has(p.param) {
			f, err := intFilter(p.param, []string{"created"}, p.op, q.Get(p.param))
			if err != nil {
				h.fail(w, err)
				return
			}
			lq.filters = append(lq.filters, f)
		}
	}
	writeObjects(w, lq.apply(h.cat.batchObjects(caller)))
}

// GET /batches/{id}
func (h *catalogHTTP) getBatch(w http.ResponseWriter, r *http.Request) {
	h.getOne(w, r, h.cat.batchObject)
}

// getOne answers a lookup by id: {"<id>": {...}}, projected by properties.
// The query is checked first: a bad request is a 400 whether or not the
// object exists.
func (h *catalogHTTP) getOne(w http.ResponseWriter, r *http.Request, find func(Caller, string) (catalogObject, error)) {
	caller, _ := CallerFrom(r.Context())
	var props []string
	if q := r.URL.Query(); q.Has("properties") {
		var err error
		if props, err = parseProperties(q.Get("properties")); err != nil {
			h.fail(w, err)
			return
		}
	}
	o, err := find(caller, r.PathValue("id"))
	if err != nil {
		h.fail(w, err)
		return
	}
	if props != nil {
		o.view = project(o.view, props)
	}
	writeObjects(w, []catalogObject{o})
}

// writeObjects answers Catalog's map keyed by id, keeping the list's
// order in the document (a Go map would sort the keys).
func writeObjects(w http.ResponseWriter, objs []catalogObject) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('{')
	for i, o := range objs {
		if i > 0 {
			buf.WriteByte(',')
		}
		_ = enc.Encode(o.id)        // a string always encodes
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteByte(':')
		if err := enc.Encode(o.view); err != nil {
			// The view was decoded from JSON, so it encodes; if it did not,
			// a 500 is better than a torn document.
			catalogError(w, http.StatusInternalServerError, titleInternal, "internal error")
			return
		}
		buf.Truncate(buf.Len() - 1)
	}
	buf.WriteString("}\n")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes()) // the client went away; nothing to do
}

// fail answers err in Catalog's shape.
func (h *catalogHTTP) fail(w http.ResponseWriter, err error) { catalogFail(w, h.log, err) }

// catalogFail answers an error of the Catalog's internal API in Catalog's
// shape; anything unexpected is logged and answered 500.
func catalogFail(w http.ResponseWriter, log zerolog.Logger, err error) {
	var bad *badRequestError
	switch {
	case errors.Is(err, errDatasetNotFound):
		catalogError(w, http.StatusNotFound, titleNotFound, "DataSet not found.") // Catalog's words
	case errors.Is(err, errBatchNotFound):
		catalogError(w, http.StatusNotFound, titleNotFound, "Batch not found.")
	case errors.As(err, &bad):
		catalogError(w, http.StatusBadRequest, titleBadRequest, bad.detail)
	default:
		internalError(w, log, err)
	}
}
