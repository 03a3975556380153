// Package platform is a typed client for the Adobe Experience Platform APIs
// Segflow drives, and for ups, the local implementation of them: the same
// calls work against either, only Config.BaseURL (and IMSURL) change.
//
// A Client gets IMS access tokens with the client-credentials grant,
// caches and renews them, sends the gateway headers every call needs
// (Authorization, x-api-key, x-gw-ims-org-id, x-sandbox-name), retries
// what is safe to retry with capped exponential backoff and full jitter,
// and turns the Platform's error bodies into *Error values that match the
// sentinels with errors.Is:
//
//	c, err := platform.New(cfg, platform.Options{Metrics: m})
//	id, err := c.CreateDataset(ctx, platform.DatasetSpec{Name: "crm", Schema: platform.SchemaProfile, Profile: true})
//	if errors.Is(err, platform.ErrRateLimited) { ... }
//
// Operations live in one file per API family: catalog.go (datasets),
// batch.go (Catalog batches, waiting for one), ingest.go (batch
// ingestion, failed rows), segments.go (segment definitions, conversion),
// preview.go (previews and estimates), segmentjobs.go (segment jobs),
// exportjobs.go (export jobs) and dataaccess.go (a batch's files, resumable
// downloads). Each describes its requests with a call and hands it to
// Client.do, which owns auth, headers, retries, errors and metrics
// (client.go, ims.go, retry.go, errors.go, metrics.go); wire.go holds the
// shared wire types, wait.go the polling of jobs (capped exponential
// backoff with jitter, a deadline, *JobFailedError).
//
// Only what is safe is retried: GET, HEAD, PUT and DELETE, a POST or PATCH
// whose operation is idempotent (CompleteBatch, AbortBatch, a definition's
// whole-object PATCH, a conversion, a preview), any request rejected with
// 429 or refused before it was sent, and any request once after a 401
// with a new token. A create that got a 5xx or a broken connection —
// dataset, batch, segment definition, segment job, export job — is
// returned to the caller, who can look the object up (FindDatasets,
// FindSegmentDefinitions, ListSegmentJobs, FindExportJobs) before trying
// again.
package platform
