package upstest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// ParquetIdentities reads an export file of ups and returns, for every
// row, the id of its identity in namespace (from the identityMap column,
// a MAP of namespace to a LIST of identities). A row without exactly one
// identity in namespace is an error.
func ParquetIdentities(data []byte, namespace string) ([]string, error) {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, err
	}
	keyCol, idCol := -1, -1
	for i, path := range f.Schema().Columns() {
		switch strings.Join(path, ".") {
		case "identityMap.key_value.key":
			keyCol = i
		case "identityMap.key_value.value.list.element.id":
			idCol = i
		}
	}
	if keyCol < 0 || idCol < 0 {
		return nil, fmt.Errorf("no identityMap key and id columns in %v", f.Schema().Columns())
	}
	var out []string
	buf := make([]parquet.Row, 64)
	for _, rg := range f.RowGroups() {
		rows := rg.Rows()
		for {
			n, err := rows.ReadRows(buf)
			for _, row := range buf[:n] {
				// Map entries come in order; an id whose repetition level
				// is at most the map's (1) starts the next entry's list.
				var keys, ids []string
				entry := -1
				for _, v := range row {
					switch v.Column() {
					case keyCol:
						keys = append(keys, v.String())
					case idCol:
						if v.RepetitionLevel() <= 1 {
							entry++
						}
						if !v.IsNull() && entry < len(keys) && keys[entry] == namespace {
							ids = append(ids, v.String())
						}
					}
				}
				if len(ids) != 1 {
					rows.Close()
					return nil, fmt.Errorf("a row with %s identities %v (namespaces %v)", namespace, ids, keys)
				}
				out = append(out, ids[0])
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				rows.Close()
				return nil, err
			}
		}
		rows.Close()
	}
	return out, nil
}
