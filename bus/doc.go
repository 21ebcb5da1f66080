// Package bus connects alerter to NATS JetStream, its backbone: it starts
// an embedded nats-server or connects to an existing cluster, declares the
// EVENTS and ALERTS streams, publishes into them with message-id dedup, and
// keeps the engine's group states in a JetStream key-value bucket shared by
// all replicas (StateStore, an engine.Store).
package bus
