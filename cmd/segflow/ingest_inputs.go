package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/segflow/segflow/pkg/platform"
	"github.com/segflow/segflow/services/ups/gen"
)

// inputFile is one file to upload.
type inputFile struct {
	path      string
	format    string // platform.FormatJSON or FormatParquet
	multiLine bool   // a JSON array
	size      int64
	class     string // gen directories: classProfile or classEvent
}

// formatKey groups files that can share a batch: a batch has one format.
func (f inputFile) formatKey() string { return fmt.Sprintf("%s/%v", f.format, f.multiLine) }

// collectInputs expands the arguments into files. A directory holding a
// gen manifest.json must be the only argument; its files come from the
// manifest, with their class. Other directories give their files with a
// known extension, in name order.
func collectInputs(args []string, format string) ([]inputFile, *gen.Summary, error) {
	var files []inputFile
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, nil, fmt.Errorf("ingest: %w", err)
		}
		if !st.IsDir() {
			f, err := newInputFile(arg, format)
			if err != nil {
				return nil, nil, err
			}
			files = append(files, f)
			continue
		}
		if m, err := readManifest(arg); err != nil {
			return nil, nil, err
		} else if m != nil {
			if len(args) > 1 {
				return nil, nil, fmt.Errorf("ingest: %s is a segflow gen directory: ingest it on its own", arg)
			}
			var out []inputFile
			for _, mf := range m.Files {
				f, err := newInputFile(filepath.Join(arg, mf.Name), format)
				if err != nil {
					return nil, nil, err
				}
				f.class = classProfile
				if mf.Class == gen.EventClass {
					f.class = classEvent
				}
				out = append(out, f)
			}
			return out, m, nil
		}
		entries, err := os.ReadDir(arg)
		if err != nil {
			return nil, nil, fmt.Errorf("ingest: %w", err)
		}
		n := 0
		for _, e := range entries {
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") || !knownExtension(e.Name()) {
				continue
			}
			f, err := newInputFile(filepath.Join(arg, e.Name()), format)
			if err != nil {
				return nil, nil, err
			}
			files = append(files, f)
			n++
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("ingest: %s holds no .json, .jsonl, .ndjson or .parquet files", arg)
		}
	}
	return files, nil, nil
}

func readManifest(dir string) (*gen.Summary, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	var m gen.Summary
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("ingest: %s/manifest.json is not a segflow gen manifest: %v", dir, err)
	}
	return &m, nil
}

func knownExtension(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".json", ".jsonl", ".ndjson", ".parquet":
		return true
	}
	return false
}

// newInputFile checks a file and decides its format.
func newInputFile(path, format string) (inputFile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return inputFile{}, fmt.Errorf("ingest: %w", err)
	}
	if !st.Mode().IsRegular() {
		return inputFile{}, fmt.Errorf("ingest: %s is not a regular file", path)
	}
	if st.Size() > platform.MaxUploadBytes {
		return inputFile{}, fmt.Errorf("ingest: %s is %s; one upload holds at most %s: split it (segflow gen splits at 250 MB)", path, humanBytes(st.Size()), humanBytes(platform.MaxUploadBytes))
	}
	f := inputFile{path: path, size: st.Size()}
	switch format {
	case "json":
		f.format = platform.FormatJSON
	case "json-array":
		f.format, f.multiLine = platform.FormatJSON, true
	case "parquet":
		f.format = platform.FormatParquet
	case "auto":
		switch strings.ToLower(filepath.Ext(path)) {
		case ".parquet":
			f.format = platform.FormatParquet
		case ".json", ".jsonl", ".ndjson":
			f.format = platform.FormatJSON
			if f.multiLine, err = startsWithBracket(path); err != nil {
				return inputFile{}, fmt.Errorf("ingest: %w", err)
			}
		default:
			return inputFile{}, fmt.Errorf("ingest: cannot tell the format of %s from its extension: use -format", path)
		}
	default:
		return inputFile{}, fmt.Errorf("ingest: -format %q: want auto, json, json-array or parquet", format)
	}
	return f, nil
}

// startsWithBracket: the file's first non-blank byte is '[', so it is a
// JSON array (multi-line JSON) rather than one object a line.
func startsWithBracket(path string) (bool, error) {
	fh, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	r := bufio.NewReader(fh)
	for {
		b, err := r.ReadByte()
		if err != nil {
			return false, nil // empty or unreadable: let the Platform say
		}
		switch b {
		case ' ', '\t', '\r', '\n', 0xEF, 0xBB, 0xBF: // blanks and a UTF-8 BOM
			continue
		}
		return b == '[', nil
	}
}
