// Package stage runs one stage of the pipeline: it takes messages from the
// stage's durable JetStream consumer, hands each to the stage's Handler
// while keeping the message alive (InProgress), records the request's
// status in the status bucket, and publishes what the handler returns —
// the next event, or the stage's failure event. The four services
// (definer, segmenter, exporter, reader) are Handlers; this package is
// everything they have in common, so each of them is only its Platform
// calls.
//
// Delivery is at least once; the effects are made exactly once by the
// handlers with the intent records Msg gives them (Msg.Intent and
// Msg.SaveIntent) and by JetStream dropping a republished event (its id
// is deterministic).
//
// Errors decide what happens to a message:
//
//   - nil: the handler's payload is published on its subject, then the
//     message is acked.
//   - a *Problem error (Fail, Reject, FromPlatform): the stage's failure
//     event is published and the message acked; it is never retried.
//   - anything else is transient: the message is redelivered after the
//     configured backoff. The last delivery's failure is published as a
//     retryable failure event and the message goes to the stage's
//     dead-letter subject, from where `segflow dlq replay` resubmits it.
package stage
