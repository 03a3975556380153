// Package definer is stage 1 of the pipeline: it takes segment.requested,
// checks the request and its PQL, optionally estimates the segment's size
// (a Platform preview), creates the segment definition and publishes
// definition.created. An invalid request — bad JSON, a missing field, PQL
// that does not parse (with its line and column), an unknown merge policy,
// a name taken by another definition, an estimate outside the request's
// bounds — is published on request.rejected; what the Platform could not
// do is published on definition.failed. Transient Platform errors are
// retried by the stage runtime (services/stage).
//
// The estimate comes before the definition, so that a request rejected
// for its size leaves nothing behind on the Platform.
//
// Effects are exactly once over at-least-once delivery, through the
// stage's intent record (keyed by request id):
//
//   - the preview's id is recorded once created (step "estimate"); a
//     redelivery reads that preview's estimate again instead of starting
//     another (a preview the Platform expired is started again);
//   - the step "create-definition" is recorded before the definition is
//     created and its id right after; a redelivery that finds the id reads
//     the definition, and one that finds only the step (the create's answer
//     was lost) looks the definition up by name before creating it.
//
// Definition names are unique in a sandbox. A definition of the request's
// name that already exists is reused when its expression is the same
// query as the request's (compared after parsing, so spacing and pql/text
// versus pql/json do not matter) and its merge policy the one asked for,
// if any: that is how a redelivery finds what an earlier attempt created,
// and how a request repeated under a new request id (a daily audience)
// runs again on the same definition. A definition of that name with
// another query is never changed: the request is rejected, naming
// definition.name.
//
// Every Platform call works in the request's sandbox (the stage runner
// puts it in the call's context); SEGFLOW_SANDBOX is only the client's
// default.
package definer
