// Package ups is Segflow's local implementation of the Experience Platform
// APIs the pipeline drives: IMS client-credentials tokens, the gateway's
// header checks, Catalog datasets and batches, batch ingestion into the
// profile store, merge policies, segment definitions, preview and
// estimate, segment jobs, export jobs writing Parquet, and Data Access.
//
// Anything written for the real Platform's API works against it with only
// the host changed. Every object belongs to one IMS org and one sandbox;
// another org or sandbox gets 404, never the object.
//
// Segmentation evaluates pkg/pql plans over the merged profiles the store
// streams (store_parallel.go): a segment job makes one parallel pass per
// merge policy for all its segments, in inSegment dependency order, and
// keeps the results as membership tables (membership.go) that exports and
// later inSegment references read. Jobs and their memberships are on disk
// before a job says SUCCEEDED; a job cut short by a restart runs again.
package ups
