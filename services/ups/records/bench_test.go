package records

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"
)

// benchLines returns the lines of testdata/bench/name: realistic XDM
// records written by services/ups/gen.
func benchLines(tb testing.TB, name string) [][]byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/bench/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	var lines [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	return lines
}

// benchFile joins lines into a file of at least n records.
func benchFile(lines [][]byte, n int) ([]byte, int) {
	var buf bytes.Buffer
	records := 0
	for records < n {
		for _, l := range lines {
			buf.Write(l)
			buf.WriteByte('\n')
			records++
		}
	}
	return buf.Bytes(), records
}

func BenchmarkReadJSONLines(b *testing.B) {
	for _, name := range []string{"profiles.jsonl", "events.jsonl"} {
		b.Run(name, func(b *testing.B) {
			data, n := benchFile(benchLines(b, name), 20000)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				got := 0
				bad, err := ReadJSONLines(bytes.NewReader(data), func(Record) error { got++; return nil })
				if err != nil || len(bad) != 0 || got != n {
					b.Fatal(err, bad, got)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(len(data))/float64(n), "B/record")
		})
	}
}

// BenchmarkDecodeStdlib is the same work done by encoding/json (a Decoder
// with UseNumber a line), for comparison with the decoder of this package.
func BenchmarkDecodeStdlib(b *testing.B) {
	for _, name := range []string{"profiles.jsonl", "events.jsonl"} {
		b.Run(name, func(b *testing.B) {
			lines := benchLines(b, name)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				dec := json.NewDecoder(bytes.NewReader(lines[i%len(lines)]))
				dec.UseNumber()
				var m map[string]any
				if err := dec.Decode(&m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, name := range []string{"profiles.jsonl", "events.jsonl"} {
		b.Run(name, func(b *testing.B) {
			lines := benchLines(b, name)
			var d decoder
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if _, err := d.decode(lines[i%len(lines)]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func BenchmarkReadJSONArray(b *testing.B) {
	lines := benchLines(b, "events.jsonl")
	var buf bytes.Buffer
	buf.WriteString("[\n")
	n := 0
	for n < 20000 {
		for _, l := range lines {
			if n > 0 {
				buf.WriteString(",\n")
			}
			buf.Write(l)
			n++
		}
	}
	buf.WriteString("\n]\n")
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		got := 0
		bad, err := ReadJSONArray(bytes.NewReader(data), func(Record) error { got++; return nil })
		if err != nil || len(bad) != 0 || got != n {
			b.Fatal(err, bad, got)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkReadParquet(b *testing.B) {
	seen := time.Date(2024, 6, 18, 13, 56, 38, 174_000_000, time.UTC)
	in := make([]pqRecord, 20000)
	for i := range in {
		in[i] = pqRecord{
			ID: fmt.Sprintf("526ac018-9e3e-21d6-5162-%012d", i), Age: int32(i % 90), Points: int64(i), Active: i%2 == 0,
			Seen: seen.Add(time.Duration(i) * time.Second), Birth: 7185,
			Home:  pqAddress{City: "Dortmund", Country: ptr("DE")},
			Items: []pqItem{{SKU: "FW-1001", Quantity: 1, Price: 119.99, Currency: ptr("EUR")}},
			Tags:  []string{"web", "commerce"},
			Attrs: map[string]string{"eventType": "commerce.productViews"},
		}
	}
	data := writeParquet(b, in)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		n := 0
		if _, err := ReadParquet(bytes.NewReader(data), int64(len(data)), func(Record) error { n++; return nil }); err != nil || n != len(in) {
			b.Fatal(err, n)
		}
	}
	b.ReportMetric(float64(len(in))*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}
