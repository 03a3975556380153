// Package gen generates deterministic synthetic XDM data: Individual
// Profiles and their ExperienceEvents, as single-line JSON ready for
// batch ingestion (one record a line, dates as ISO 8601 strings).
//
// It exists so that ups, the pipeline and the benchmarks have a realistic,
// reproducible data set of any size: shoppers in ten countries with
// plausible names, addresses, loyalty tiers and consents, and a year of web
// and commerce sessions each (views ≫ cart adds > checkouts > purchases,
// cart abandons with metrics.commerce.abandons.value = 1).
//
// Everything about profile i — its record and its events — depends only
// on (Config.Seed, Config.Now, i): the same configuration gives the same
// bytes, profile i is the same in a run of 10 or of 10 million, and
// blocks of profiles can be generated in parallel. Output is not stable
// across changes to this package; Version says which generator wrote a
// data set.
//
//	cfg := gen.Config{Profiles: 10_000, Seed: 1, Now: now}
//	sum, err := gen.WriteDataset(ctx, cfg, "data")   // data/profiles.json, events.json, manifest.json
//	err = gen.Profiles(cfg, w)                       // or stream one kind
package gen
