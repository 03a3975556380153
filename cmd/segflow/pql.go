package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/segflow/segflow/pkg/pql"
)

// runPQL implements "segflow pql check|convert". A query argument of "-"
// is read from stdin.
func runPQL(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage
	}
	fs := flag.NewFlagSet("pql "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "check: the query is pql/json")
	to := fs.String("to", "", "convert: target format, json or text")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("pql %s takes one query argument (or - for stdin): %w", args[0], errUsage)
	}
	src := fs.Arg(0)
	if src == "-" {
		b, err := io.ReadAll(io.LimitReader(stdin, pql.MaxQueryLength+1))
		if err != nil {
			return err
		}
		src = string(b)
	}
	switch args[0] {
	case "check":
		q, err := parse(src, *asJSON)
		if err != nil {
			return err
		}
		info := pql.Analyze(q)
		fmt.Fprintln(stdout, q.String())
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	case "convert":
		switch *to {
		case "json":
			q, err := parse(src, false)
			if err != nil {
				return err
			}
			b, err := q.MarshalJSON()
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, string(b))
			return nil
		case "text":
			q, err := parse(src, true)
			if err != nil {
				return err
			}
			fmt.Fprintln(stdout, q.String())
			return nil
		}
		return errors.New("pql convert needs -to json or -to text")
	}
	return fmt.Errorf("unknown pql command %q: %w", args[0], errUsage)
}

func parse(src string, isJSON bool) (*pql.Query, error) {
	if isJSON || strings.HasPrefix(strings.TrimSpace(src), "{") {
		return pql.ParseJSON([]byte(src))
	}
	return pql.Parse(src)
}
