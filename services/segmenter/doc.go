// Package segmenter is stage 2 of the pipeline: it takes
// definition.created, runs one segment job on the segment, waits for it
// (polling with capped exponential backoff and jitter while the stage
// keeps the message alive) and publishes job.succeeded with the job's
// counts: profiles evaluated, the segment's members, by membership status
// and by identity namespace, and its timings. A job the Platform FAILED
// or CANCELLED, a Platform 4xx, or a job that is not done within
// SEGFLOW_JOB_TIMEOUT (which is then cancelled) is published on
// job.failed; transient errors are retried by the stage runtime.
//
// Effects are exactly once over at-least-once delivery, through the
// stage's intent record (keyed by request id): the step
// "create-segment-job" is recorded before the job is created and its id
// right after. A redelivery that finds the id resumes waiting on that job;
// one that finds only the step (the create's answer was lost) looks for a
// job on the segment created since the step was recorded
// (ListSegmentJobs, filtered by segment) before creating one.
// SEGFLOW_JOB_TIMEOUT runs from that first record, not from each
// delivery, so redeliveries do not extend it.
//
// The segment job runs in the request's sandbox.
package segmenter
