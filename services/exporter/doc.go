// Package exporter is stage 3 of the pipeline: it takes job.succeeded,
// exports the segment's members into a dataset on the profile union
// schema with one export job, waits for the job and publishes
// export.succeeded with the dataset, export job and batch ids and the
// exported profile count (export.failed when the job FAILED or the
// Platform refused it).
//
// The dataset is created or reused by name: the request's
// export.datasetName, else Config.DatasetPrefix followed by the segment's
// name made safe ("segflow-us-cart-abandoners"), so that the runs of one
// segment land in one dataset, one batch per run. A dataset the exporter
// creates is tagged with the request id (Catalog tag "segflow"), which
// tells a dataset this request created from one it reused.
//
// Effects are exactly once over at-least-once delivery, through the
// stage's intent record: the step "create-dataset" is recorded before the
// dataset is looked up and created and its id right after; the step
// "create-export-job" before the export job is created and its id right
// after. A redelivery that finds the export job id resumes polling it; one
// that finds the "create-export-job" step without an id (the create's
// answer was lost) looks for a job of this segment into the dataset
// created since that step (FindExportJobs, allowing Config.ClockSkew)
// before creating one. A create step carries the stream sequence of its
// message: a copy of the message (published twice, replayed) that finds
// another message's create under way retries later, for up to
// Config.CreateLease, instead of creating a second dataset or job.
//
// The job is polled with capped exponential backoff and jitter while the
// stage keeps the message alive, for up to Config.Timeout from the
// request's first attempt; a job not done by then is cancelled and the
// request fails.
package exporter
