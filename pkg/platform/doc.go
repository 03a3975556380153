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
// batch.go (Catalog batches, waiting for one) and ingest.go (batch
// ingestion, failed rows). Each describes its requests with a call and
// hands it to Client.do, which owns auth, headers, retries, errors and
// metrics (client.go, ims.go, retry.go, errors.go, metrics.go); segment
// definitions, jobs, exports and Data Access add a file the same way.
//
// Only what is safe is retried: GET, HEAD, PUT and DELETE, a POST whose
// operation is idempotent (CompleteBatch, AbortBatch), any request rejected with 429
// or refused before it was sent, and any request once after a 401 with a
// new token. A create that got a 5xx or a broken connection is returned
// to the caller, who can look the object up before trying again.
package platform
