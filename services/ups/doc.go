// Package ups is Segflow's local implementation of the Experience Platform
// APIs the pipeline drives: IMS client-credentials tokens, the gateway's
// header checks, Catalog datasets and batches, batch ingestion into the
// profile store, merge policies, and (with the next issues) segmentation,
// export and Data Access.
//
// Anything written for the real Platform's API works against it with only
// the host changed. Every object belongs to one IMS org and one sandbox;
// another org or sandbox gets 404, never the object.
package ups
