// Package statestore keeps the engine's group states in a JetStream
// key-value bucket shared by all replicas: Store is an engine.Store.
//
// # State writes: compare-and-set and TTL in one message
//
// A KV bucket is a stream whose subjects are $KV.<bucket>.<key>. The
// jetstream package's KeyValue.Update is a compare-and-set but publishes
// without a TTL, so a key created with KeyTTL and then updated never
// expires (only a bucket-wide TTL would still apply). Store therefore
// writes each state itself: one publish to the key's subject with
// Nats-Expected-Last-Subject-Sequence (the CAS: the server rejects it if the
// key changed since it was read) and Nats-TTL (the key's TTL, restarted by
// every write). This is exactly the message KeyValue.Create sends, with any
// revision instead of "none", so it is atomic and needs nothing beyond the
// bucket's LimitMarkerTTL. The alternatives are worse: Delete+Create is not
// atomic (a concurrent writer can slip in between, and a crash in between
// loses the state), and a bucket TTL as the maximum would keep every key as
// long as the longest window of any rule.
//
// A state that becomes empty is purged with the same CAS and a short TTL on
// the purge marker, so an emptied key costs nothing after MarkerTTL.
//
// # Reads
//
// The first read of an update is a direct get, which any replica of the
// bucket answers, fast and usually current. After a CAS conflict the state
// is read from the stream leader, so a lagging replica cannot fail every
// retry. Updates of one key within a process queue on a local lock, so CAS
// conflicts only happen between replicas.
package statestore
