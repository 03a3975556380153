package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Catalog (aep-api.md §4, §5): datasets and batches. Catalog answers
// lookups and lists as a JSON object keyed by id.

const catalogBase = "/data/foundation/catalog"

// XDM schemas of datasets ($id); Catalog also takes their meta:altId
// (_xdm.context.profile, …).
const (
	SchemaProfile         = "https://ns.adobe.com/xdm/context/profile"
	SchemaExperienceEvent = "https://ns.adobe.com/xdm/context/experienceevent"
	SchemaProfileUnion    = "https://ns.adobe.com/xdm/context/profile__union"
)

// xedContentType is the schema content type datasets name.
const xedContentType = "application/vnd.adobe.xed+json;version=1"

// DatasetSpec describes a dataset to create.
type DatasetSpec struct {
	Name        string
	Description string
	// Schema is the $id of the dataset's XDM schema: SchemaProfile,
	// SchemaExperienceEvent, SchemaProfileUnion (export targets) or a
	// tenant schema.
	Schema string
	// Profile enables the dataset for Real-Time Customer Profile (and
	// Identity Service): its batches reach the profile store.
	Profile bool
	// Tags are more Catalog tags, namespace to values.
	Tags map[string][]string
	// FileDescription, if set, is sent as given (older export guides set
	// {"persisted":true,"containerFormat":"parquet","format":"parquet"}).
	FileDescription map[string]any
}

// SchemaRef points a dataset at its schema.
type SchemaRef struct {
	ID          string `json:"id"`
	ContentType string `json:"contentType,omitempty"`
}

// Dataset is a Catalog dataset.
type Dataset struct {
	ID            string              `json:"-"` // the key of Catalog's answer
	Name          string              `json:"name"`
	Description   string              `json:"description,omitempty"`
	IMSOrg        string              `json:"imsOrg"`
	SandboxName   string              `json:"sandboxName,omitempty"`
	SchemaRef     SchemaRef           `json:"schemaRef"`
	Tags          map[string][]string `json:"tags"`
	Created       int64               `json:"created"` // Unix ms
	Updated       int64               `json:"updated"` // Unix ms
	CreatedClient string              `json:"createdClient,omitempty"`
	ViewID        string              `json:"viewId,omitempty"`
	Version       string              `json:"version,omitempty"`
}

// ProfileEnabled reports whether the dataset is enabled for Profile:
// tags.unifiedProfile holds "enabled:true" (Adobe writes it with and
// without a space).
func (d Dataset) ProfileEnabled() bool {
	for _, v := range d.Tags["unifiedProfile"] {
		if strings.ReplaceAll(strings.ToLower(v), " ", "") == "enabled:true" {
			return true
		}
	}
	return false
}

// CreateDataset creates a dataset and returns its id. It is not retried
// on a 5xx or a broken connection, since a retry could create a second
// dataset: look it up by name (FindDatasets) before trying again.
func (c *Client) CreateDataset(ctx context.Context, spec DatasetSpec) (string, error) {
	if spec.Name == "" || spec.Schema == "" {
		return "", fmt.Errorf("platform: CreateDataset: a dataset needs a Name and a Schema")
	}
	tags := make(map[string][]string, len(spec.Tags)+2)
	for k, v := range spec.Tags {
		tags[k] = v
	}
	if spec.Profile {
		tags["unifiedProfile"] = []string{"enabled:true"}
		tags["unifiedIdentity"] = []string{"enabled:true"}
	}
	body := map[string]any{
		"name":      spec.Name,
		"schemaRef": SchemaRef{ID: spec.Schema, ContentType: xedContentType},
	}
	if spec.Description != "" {
		body["description"] = spec.Description
	}
	if len(tags) > 0 {
		body["tags"] = tags
	}
	if spec.FileDescription != nil {
		body["fileDescription"] = spec.FileDescription
	}
	var refs []string
	err := c.do(ctx, call{op: "CreateDataset", method: http.MethodPost, path: catalogBase + "/dataSets", jsonBody: body, out: &refs})
	if err != nil {
		return "", err
	}
	// ["@/dataSets/<id>"]; the guides print "@/datasets/".
	for _, r := range refs {
		if len(r) > len("@/dataSets/") && strings.EqualFold(r[:len("@/dataSets/")], "@/dataSets/") {
			return r[len("@/dataSets/"):], nil
		}
	}
	return "", fmt.Errorf("platform: CreateDataset: the answer %q names no dataset", refs)
}

// Dataset returns the dataset id.
func (c *Client) Dataset(ctx context.Context, id string) (Dataset, error) {
	var raw json.RawMessage
	if err := c.do(ctx, call{op: "Dataset", method: http.MethodGet, path: catalogBase + "/dataSets/" + escape(id), out: &raw}); err != nil {
		return Dataset{}, err
	}
	ds, err := decodeDatasets(raw)
	if err != nil {
		return Dataset{}, fmt.Errorf("platform: Dataset: %w", err)
	}
	for _, d := range ds {
		if d.ID == id {
			return d, nil
		}
	}
	return Dataset{}, fmt.Errorf("platform: Dataset: the answer does not hold dataset %s", id)
}

// ListOptions are the query parameters every Catalog list takes.
type ListOptions struct {
	// Limit is the page size (Catalog: default 20, at most 100); 0 leaves
	// Catalog's default.
	Limit int
	// Start is the 0-based index of the first object.
	Start int
	// OrderBy sorts, such as "desc:created".
	OrderBy string
	// Properties are property filters, each one property parameter:
	// "name==crm", "name~^test", "!tags.unifiedProfile".
	Properties []string
}

func (o ListOptions) values() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Start > 0 {
		q.Set("start", strconv.Itoa(o.Start))
	}
	if o.OrderBy != "" {
		q.Set("orderBy", o.OrderBy)
	}
	for _, p := range o.Properties {
		q.Add("property", p)
	}
	return q
}

// ListDatasets returns one page of datasets, in Catalog's order.
func (c *Client) ListDatasets(ctx context.Context, opts ListOptions) ([]Dataset, error) {
	var raw json.RawMessage
	if err := c.do(ctx, call{op: "ListDatasets", method: http.MethodGet, path: catalogBase + "/dataSets", query: opts.values(), out: &raw}); err != nil {
		return nil, err
	}
	ds, err := decodeDatasets(raw)
	if err != nil {
		return nil, fmt.Errorf("platform: ListDatasets: %w", err)
	}
	return ds, nil
}

// FindDatasets returns every dataset named name, oldest first.
func (c *Client) FindDatasets(ctx context.Context, name string) ([]Dataset, error) {
	const page = 100
	var out []Dataset
	for start := 0; ; start += page {
		ds, err := c.ListDatasets(ctx, ListOptions{Limit: page, Start: start, OrderBy: "asc:created", Properties: []string{"name==" + name}})
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if d.Name == name { // a Catalog that ignored the filter must not hand back others
				out = append(out, d)
			}
		}
		if len(ds) < page {
			return out, nil
		}
	}
}

func decodeDatasets(raw []byte) ([]Dataset, error) {
	var out []Dataset
	err := eachObject(raw, func(id string, v json.RawMessage) error {
		var d Dataset
		if err := json.Unmarshal(v, &d); err != nil {
			return fmt.Errorf("dataset %s: %w", id, err)
		}
		d.ID = id
		out = append(out, d)
		return nil
	})
	return out, err
}

// eachObject calls fn with every member of a JSON object in document
// order: Catalog sorts its lists, and a Go map would lose the order.
func eachObject(raw []byte, fn func(key string, v json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("decoding the answer: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("the answer is not a JSON object keyed by id")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("decoding the answer: %w", err)
		}
		key, _ := tok.(string) // object keys are strings
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("decoding the answer: %w", err)
		}
		if err := fn(key, v); err != nil {
			return err
		}
	}
	return nil
}
