// Package events is the pipeline's event contract: the subjects the stages
// talk on, the CloudEvents 1.0 envelope every message travels in, the
// segment request that other systems publish, the versioned payload of each
// event, the per-request status record, and the JetStream stream, consumer
// and key-value configurations, created idempotently by Ensure.
//
// It is a leaf: it imports nothing of the project, so the stages, the
// command and any other system can share it.
package events
