package events

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventRoundTrip(t *testing.T) {
	payloads := []Payload{
		sampleRequest(), sampleDefinitionCreated(), sampleJobSucceeded(), sampleExportSucceeded(),
		sampleBatchReady(), sampleRejected(), sampleJobFailed(), sampleDeadLetter(),
	}
	for _, p := range payloads {
		t.Run(p.EventType(), func(t *testing.T) {
			e, err := NewEvent("/segflow/test", p, at(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != e.ID || got.Type != p.EventType() || got.Subject != p.EventSubject() || got.Source != e.Source ||
				!got.Time.Equal(e.Time) || got.SpecVersion != "1.0" || got.DataContentType != ContentTypeJSON {
				t.Fatalf("decoded %+v, want %+v", got, e)
			}
			if string(got.Data) != string(e.Data) {
				t.Fatalf("data changed:\n%s\n%s", got.Data, e.Data)
			}
		})
	}
}

func TestEventIDsAreDeterministic(t *testing.T) {
	a, err := NewEvent(Source(StageReader), sampleBatchReady(), at(0))
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewEvent(Source(StageReader), sampleBatchReady(), at(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if a.ID != b.ID {
		t.Fatalf("ids differ: %q %q", a.ID, b.ID)
	}
	if want := "9b2f6a54-3c1e-4d7a-8e0f-1a2b3c4d5e6f/segflow.batch.ready.v1"; a.ID != want {
		t.Fatalf("id = %q, want %q", a.ID, want)
	}
	// Every event type of one request has its own id.
	seen := map[string]string{}
	for _, p := range []Payload{sampleRequest(), sampleDefinitionCreated(), sampleJobSucceeded(), sampleExportSucceeded(), sampleBatchReady(), sampleRejected(), sampleJobFailed(), sampleDeadLetter()} {
		e, err := NewEvent("/x", p, at(0))
		if err != nil {
			t.Fatal(err)
		}
		if other, dup := seen[e.ID]; dup {
			t.Fatalf("%s and %s share id %q", other, e.Type, e.ID)
		}
		seen[e.ID] = e.Type
	}
	// The dead letter's id follows the stream message, not the request.
	d := sampleDeadLetter()
	e1, _ := NewEvent("/x", d, at(0))
	d.StreamSequence++
	e2, _ := NewEvent("/x", d, at(0))
	if e1.ID == e2.ID {
		t.Fatal("two dead letters of one request share an id")
	}
}

func TestFailureTypesAndSubjects(t *testing.T) {
	s := MustSubjects("")
	for _, c := range []struct {
		f        Failure
		typ, sub string
	}{
		{Failure{Stage: StageDefiner, Rejected: true}, TypeRequestRejected, "request.rejected"},
		{Failure{Stage: StageDefiner}, TypeDefinitionFailed, "definition.failed"},
		{Failure{Stage: StageSegmenter}, TypeJobFailed, "job.failed"},
		{Failure{Stage: StageExporter}, TypeExportFailed, "export.failed"},
		{Failure{Stage: StageReader}, TypeBatchFailed, "batch.failed"},
	} {
		if c.f.EventType() != c.typ || s.For(c.f) != c.sub || s.For(&c.f) != c.sub {
			t.Errorf("%+v: type %q subject %q", c.f, c.f.EventType(), s.For(c.f))
		}
	}
}

func TestNewEventRefuses(t *testing.T) {
	bad := sampleBatchReady()
	bad.RequestID = "has space"
	noSeg := sampleDefinitionCreated()
	noSeg.Segment.ID = ""
	badSum := sampleBatchReady()
	badSum.Files[0].SHA256 = strings.ToUpper(badSum.Files[0].SHA256)
	noReason := sampleJobFailed()
	noReason.Reason = ""
	rejectedLate := sampleJobFailed()
	rejectedLate.Rejected = true
	invalidReq := sampleRequest()
	invalidReq.Definition.Name = ""
	for name, c := range map[string]struct {
		p     Payload
		field string
	}{
		"bad request id":         {bad, "requestId"},
		"no segment id":          {noSeg, "segment.id"},
		"uppercase sha256":       {badSum, "files[0].sha256"},
		"failure without reason": {noReason, "reason"},
		"segmenter rejecting":    {rejectedLate, "rejected"},
		"invalid request":        {invalidReq, "definition.name"},
	} {
		_, err := NewEvent("/x", c.p, at(0))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s: err = %v, want field %q", name, err, c.field)
		}
	}
}

func TestDecodeStrict(t *testing.T) {
	e, err := NewEvent(Source(StageReader), sampleBatchReady(), at(0))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := e.Encode()
	for name, c := range map[string]struct {
		body, field string
	}{
		"not an object":    {`"x"`, ""},
		"specversion 0.3":  {strings.Replace(string(good), `"specversion":"1.0"`, `"specversion":"0.3"`, 1), "specversion"},
		"specversion num":  {strings.Replace(string(good), `"specversion":"1.0"`, `"specversion":1.0`, 1), "specversion"},
		"no specversion":   {strings.Replace(string(good), `"specversion":"1.0",`, ``, 1), "specversion"},
		"no source":        {strings.Replace(string(good), `"source":"/segflow/reader",`, ``, 1), "source"},
		"empty type":       {strings.Replace(string(good), `"type":"segflow.batch.ready.v1"`, `"type":""`, 1), "type"},
		"bad time":         {strings.Replace(string(good), `"time":"2026-03-01T10:00:00Z"`, `"time":"yesterday"`, 1), "time"},
		"no data":          {`{"specversion":"1.0","id":"a","source":"/b","type":"c"}`, "data"},
		"text content":     {strings.Replace(string(good), `"datacontenttype":"application/json"`, `"datacontenttype":"text/plain"`, 1), "datacontenttype"},
		"data_base64 only": {`{"specversion":"1.0","id":"a","source":"/b","type":"c","data_base64":"e30="}`, "data_base64"},
	} {
		_, err := Decode([]byte(c.body))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s: err = %v, want field %q", name, err, c.field)
		}
	}
	// A JSON content type with parameters, and extension attributes, pass.
	ok := strings.Replace(string(good), `"datacontenttype":"application/json"`, `"datacontenttype":"application/json; charset=utf-8","traceparent":"00-ab"`, 1)
	if _, err := Decode([]byte(ok)); err != nil {
		t.Errorf("parameters and extensions: %v", err)
	}
}

func TestDecodeAsChecksAgreement(t *testing.T) {
	e, err := NewEvent(Source(StageReader), sampleBatchReady(), at(0))
	if err != nil {
		t.Fatal(err)
	}
	good, _ := e.Encode()
	if _, _, err := DecodeAs[BatchReady](good); err != nil {
		t.Fatal(err)
	}
	// Wrong payload type for the event type.
	if _, _, err := DecodeAs[ExportSucceeded](good); !errors.Is(err, ErrInvalid) {
		t.Errorf("batch.ready as export.succeeded: err = %v", err)
	}
	// Subject and data disagree.
	other := strings.Replace(string(good), `"subject":"9b2f6a54-3c1e-4d7a-8e0f-1a2b3c4d5e6f"`, `"subject":"someone-else"`, 1)
	if _, _, err := DecodeAs[BatchReady]([]byte(other)); !errors.Is(err, ErrInvalid) {
		t.Errorf("subject mismatch: err = %v", err)
	}
	// A wrong type inside data names the field.
	wrong := strings.Replace(string(good), `"profileCount":4210`, `"profileCount":"many"`, 1)
	_, _, err = DecodeAs[BatchReady]([]byte(wrong))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Field != "profileCount" {
		t.Errorf("wrong type: err = %v", err)
	}
	// A failure decodes whatever its stage.
	f, _ := NewEvent(Source(StageSegmenter), sampleJobFailed(), at(0))
	fb, _ := f.Encode()
	if _, got, err := DecodeAs[Failure](fb); err != nil || got.Stage != StageSegmenter || got.PlatformError == nil {
		t.Errorf("failure: %+v, %v", got, err)
	}
}

func TestMsg(t *testing.T) {
	e, err := NewEvent(Source(StageReader), sampleBatchReady(), at(0))
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Msg("acme.batch.ready")
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "acme.batch.ready" || m.Header.Get("Nats-Msg-Id") != e.ID || m.Header.Get("Content-Type") != ContentTypeCloudEvents {
		t.Fatalf("msg %+v", m)
	}
	if _, err := (Event{}).Msg("x"); err == nil {
		t.Fatal("an empty event made a message")
	}
}

func TestDeadLetterReplay(t *testing.T) {
	d := sampleDeadLetter()
	m := d.ReplayMsg()
	if m.Subject != "job.succeeded" || string(m.Data) != string(d.Message) {
		t.Fatalf("replay %+v", m)
	}
	if id := m.Header.Get(MsgIDHeader); id == d.MsgID || id != d.MsgID+"/replay/42" {
		t.Fatalf("replay id %q", id)
	}
	var bin DeadLetter
	bin.SetMessage([]byte{0xff, 0x00})
	if bin.Message != nil || string(bin.Body()) != "\xff\x00" {
		t.Fatalf("binary body: %+v", bin)
	}
}
