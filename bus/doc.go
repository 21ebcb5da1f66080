// Package bus connects alerter to NATS JetStream, its backbone: it starts
// an embedded nats-server or connects to an existing cluster, declares the
// EVENTS, ALERTS, REJECTED and DEADLETTERS streams, publishes into them
// with message-id dedup, answers typed queries on what they hold (alert
// history, dead letters, stored events), and keeps the small key-value
// records the service needs (deliveries, checkpoints, signed requests).
// The engine's group states are kept by package statestore.
package bus
