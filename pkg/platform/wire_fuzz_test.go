package platform

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeAnswers feeds arbitrary JSON to every answer type with a
// decoder of its own: none may panic, and what decodes must encode.
func FuzzDecodeAnswers(f *testing.F) {
	for _, s := range []string{refDefinition, refPreviewAnswer, refPreviewPage, refEstimate, refJob, refNewJob, refExportJob, refBatchFile, refFileListing,
		`{"id":100.0,"destination":{"dataSetId":"x","batches":{"batchId":"b"}}}`, `{"results":[{"a":{"endCustomerIds":[]}}]}`, `{"code":1e400}`, `[]`, `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, v := range []any{
			new(SegmentDefinition), new(SegmentDefinitionPage), new(Preview), new(PreviewPage), new(Estimate),
			new(SegmentJob), new(SegmentJobPage), new(ExportJob), new(ExportJobPage),
			new(dataAccessPage[BatchFile]), new(dataAccessPage[FileEntry]), new(JobError), new(Expression),
		} {
			if json.Unmarshal([]byte(s), v) == nil {
				if _, err := json.Marshal(v); err != nil {
					t.Errorf("%T decoded from %q does not encode: %v", v, s, err)
				}
			}
		}
	})
}

// FuzzParseContentRange: an accepted range is consistent.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/249058", "bytes 5-9/*", "bytes 9-5/100", "bytes -1-2/3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		first, size, err := parseContentRange(s)
		if err == nil && (first < 0 || (size != -1 && size <= first)) {
			t.Errorf("parseContentRange(%q) = %d, %d", s, first, size)
		}
	})
}
