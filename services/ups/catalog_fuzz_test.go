package ups

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
)

// Bad input is a 400, never a panic or a 500: the parsers either succeed
// or return a *badRequestError.

func FuzzParseDatasetBody(f *testing.F) {
	for _, s := range []string{
		`{"name":"x","schemaRef":{"id":"_xdm.context.profile"}}`,
		`{"name":"x","tags":{"a":["b",null]},"fileDescription":{"format":"parquet"},"extra":[1,{"y":null}]}`,
		`{"Name":"x","NAME":1}`, `[]`, `null`, `"`, `{"name":"\ud800"}`, "\xff", ``,
	} {
		f.Add([]byte(s))
	}
	c, err := openCatalog(f.TempDir(), newCatClock().now)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := parseDatasetBody(body)
		var bad *badRequestError
		if err != nil {
			if !errors.As(err, &bad) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		d, err := c.createDataset(devCaller("prod"), in)
		if err != nil && !errors.As(err, &bad) {
			t.Fatalf("createDataset: %v", err)
		}
		if err == nil {
			if _, err := json.Marshal(d.object()); err != nil {
				t.Fatalf("object does not encode: %v", err)
			}
		}
	})
}

func FuzzListQuery(f *testing.F) {
	for _, s := range []string{
		"limit=2&start=1&orderBy=desc:created", "property=name~^t&property=!description",
		"property=created%3E%3D1&properties=name", "tags=unifiedProfile:enabled:true,x:*",
		"orderBy=asc:schemaRef.id,-name", "property=relatedObjects.id==x", "property=a~%5B",
	} {
		f.Add(s)
	}
	views := []map[string]any{}
	for _, s := range []string{
		`{"name":"test","created":5,"tags":{"unifiedProfile":["enabled:true"]},"relatedObjects":[{"type":"dataSet","id":"x"}]}`,
		`{"name":7,"description":null,"created":"late","schemaRef":{"id":"y"},"list":[1,[2,3],{"a":true}]}`,
		`{}`,
	} {
		v, err := genericJSON(json.RawMessage(s))
		if err != nil {
			f.Fatal(err)
		}
		views = append(views, v)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := parseListQuery(q)
		if err != nil {
			var bad *badRequestError
			if !errors.As(err, &bad) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		objs := make([]catalogObject, len(views))
		for i, v := range views {
			objs[i] = catalogObject{id: string(rune('a' + i)), view: v}
		}
		if got := lq.apply(objs); len(got) > lq.limit {
			t.Fatalf("%d objects past limit %d", len(got), lq.limit)
		}
	})
}
