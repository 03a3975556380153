package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/segflow/segflow/pkg/platform"
)

// Dataset classes the command creates datasets of.
const (
	classProfile = "profile"
	classEvent   = "event"
)

func classSchema(class string) (string, error) {
	switch class {
	case classProfile:
		return platform.SchemaProfile, nil
	case classEvent:
		return platform.SchemaExperienceEvent, nil
	}
	return "", fmt.Errorf("ingest: -class %q: want profile or event", class)
}

// schemaClass names the class of a dataset's schema ($id or meta:altId).
func schemaClass(schemaID string) string {
	switch schemaID {
	case platform.SchemaProfile, "_xdm.context.profile":
		return classProfile
	case platform.SchemaExperienceEvent, "_xdm.context.experienceevent":
		return classEvent
	}
	return schemaID
}

// ingestTarget is a dataset and the files that go into it.
type ingestTarget struct {
	dataset platform.Dataset
	files   []inputFile
}

// datasetChoice says where files go: plain files to the dataset with id,
// or the one named name (created, of class, when create is set); a gen
// directory's profiles and events to the datasets named profilesName and
// eventsName.
type datasetChoice struct {
	id, name, class          string
	create                   bool
	profilesName, eventsName string
}

// ingestTargets expands args into files of format (see collectInputs) and
// resolves the dataset each goes to, finding or creating datasets as
// choice says.
func ingestTargets(ctx context.Context, c *platform.Client, args []string, format string, choice datasetChoice, stderr io.Writer) ([]ingestTarget, error) {
	inputs, manifest, err := collectInputs(args, format)
	if err != nil {
		return nil, err
	}
	if manifest != nil {
		if choice.id != "" || choice.name != "" {
			return nil, errors.New("ingest: a segflow gen directory goes to -profiles-dataset and -events-dataset, not -dataset or -name")
		}
		return genTargets(ctx, c, inputs, choice.profilesName, choice.eventsName, stderr)
	}
	return fileTargets(ctx, c, inputs, choice.id, choice.name, choice.class, choice.create, stderr)
}

// fileTargets resolves the dataset of plain files.
func fileTargets(ctx context.Context, c *platform.Client, files []inputFile, id, name, class string, create bool, stderr io.Writer) ([]ingestTarget, error) {
	var ds platform.Dataset
	var err error
	switch {
	case id != "" && name != "":
		return nil, errors.New("ingest: give -dataset or -name, not both")
	case id != "":
		if ds, err = c.Dataset(ctx, id); err != nil {
			return nil, fmt.Errorf("ingest: dataset %s: %w", id, err)
		}
		warnNotForProfile(ds, stderr)
	case name != "":
		if ds, err = resolveDataset(ctx, c, name, class, create, stderr); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("ingest: which dataset? Give -dataset ID, or -name NAME (with -create to create it)")
	}
	return []ingestTarget{{dataset: ds, files: files}}, nil
}

// genTargets sends a gen directory's profiles and events to datasets
// named profilesName and eventsName, creating them if missing.
func genTargets(ctx context.Context, c *platform.Client, files []inputFile, profilesName, eventsName string, stderr io.Writer) ([]ingestTarget, error) {
	var targets []ingestTarget
	for _, t := range []struct{ class, name string }{{classProfile, profilesName}, {classEvent, eventsName}} {
		var mine []inputFile
		for _, f := range files {
			if f.class == t.class {
				mine = append(mine, f)
			}
		}
		if len(mine) == 0 {
			continue
		}
		ds, err := resolveDataset(ctx, c, t.name, t.class, true, stderr)
		if err != nil {
			return nil, err
		}
		targets = append(targets, ingestTarget{dataset: ds, files: mine})
	}
	return targets, nil
}

// resolveDataset finds the dataset named name, or creates it (enabled for
// Profile, of class) when create is set.
func resolveDataset(ctx context.Context, c *platform.Client, name, class string, create bool, stderr io.Writer) (platform.Dataset, error) {
	schema, err := classSchema(class)
	if err != nil {
		return platform.Dataset{}, err
	}
	found, err := c.FindDatasets(ctx, name)
	if err != nil {
		return platform.Dataset{}, fmt.Errorf("ingest: looking up dataset %q: %w", name, err)
	}
	switch {
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, d := range found {
			ids[i] = d.ID
		}
		return platform.Dataset{}, fmt.Errorf("ingest: %d datasets are named %q (%s): use -dataset ID", len(found), name, strings.Join(ids, ", "))
	case len(found) == 1:
		ds := found[0]
		if create && schemaClass(ds.SchemaRef.ID) != class {
			return platform.Dataset{}, fmt.Errorf("ingest: dataset %q (%s) has schema %s, not the %s class", name, ds.ID, ds.SchemaRef.ID, class)
		}
		warnNotForProfile(ds, stderr)
		return ds, nil
	case !create:
		return platform.Dataset{}, fmt.Errorf("ingest: no dataset is named %q: add -create to create it", name)
	}
	id, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: name, Schema: schema, Profile: true, Description: "created by segflow ingest"})
	if err != nil {
		return platform.Dataset{}, fmt.Errorf("ingest: creating dataset %q: %w", name, err)
	}
	fmt.Fprintf(stderr, "ingest: created dataset %q (%s, %s class, enabled for Profile)\n", name, id, class)
	return c.Dataset(ctx, id)
}

func warnNotForProfile(ds platform.Dataset, stderr io.Writer) {
	if !ds.ProfileEnabled() {
		fmt.Fprintf(stderr, "ingest: note: dataset %q (%s) is not enabled for Profile: its records are counted but do not reach the profile store\n", ds.Name, ds.ID)
	}
}
