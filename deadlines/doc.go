// Package deadlines keeps durable deadlines in NATS JetStream: a caller
// schedules one deadline per key, moves it by scheduling again, or cancels
// it, and the deadlines whose time has come are handed, each once, to a
// callback. Absences and quiet sources (correlation rules) and the
// escalations, resolves and digests of alerts build on it. Nothing waits in
// a process: a deadline is a message in the DEADLINES stream, so it
// survives restarts and is shared by every replica.
//
// # How: message schedules
//
// The stream allows message schedules (nats-server 2.12+, ADR-51). Schedule
// stores one message on deadlines.<set>.sched.<key> with the headers
// Nats-Schedule: @at <time> and Nats-Schedule-Target:
// deadlines.<set>.due.<key>. At that time the server itself copies the
// message (payload and our headers) to the target and purges the schedule,
// in one step of the stream. The server adds a subject roll-up to every
// schedule, so scheduling a key again replaces its previous schedule, and
// Cancel purges the schedule's subject. The due messages are taken by one
// durable pull consumer per set, shared by the replicas; the stream keeps
// a due message only until it is acknowledged (work-queue retention), and
// a schedule only until it fires or is cancelled.
//
// The schedule is placed at Due + Options.Lateness (or, for a Due already
// past, the time of scheduling + Lateness, so that a backlog being caught
// up on can still cancel it), with nanosecond precision (the jetstream client's WithScheduleAt would truncate to the
// second, firing early). Deadline.Due stays the time the caller gave.
//
// Keys are arbitrary strings up to MaxKeyLen bytes; they are carried in
// the subjects base64url-encoded (no '.', '*', '>' or spaces), so no key
// can reach another key's subject. Payloads are bounded by MaxPayload.
//
// # Guarantees
//
//   - Not early: a deadline is handed over no sooner than Due + Lateness
//     by the server's clock.
//   - Durable: a deadline whose time came while the server and every
//     replica were down fires once the server is back (it rebuilds its
//     schedules from the stream when it starts). On a cluster the stream's
//     leader fires the schedules, and the next leader takes over those
//     pending when it dies.
//   - Once: a deadline fires once, and its message is taken by one
//     replica at a time. While the callback runs its message is kept
//     (in-progress acknowledgements), and it is acknowledged only when the
//     callback returns nil; a failed callback is called again after a
//     backoff (Options.RetryFirst doubling to Options.RetryLimit).
//   - Cancel and replace: Cancel, or Schedule of the same key, that
//     returns before the deadline's time (Due + Lateness) means the old
//     deadline never fires. Lateness is therefore also how long after Due
//     a late event (an absence's step arriving late) can still cancel it.
//
// # Limits, and what the caller does about them
//
//   - The callback is called at least once: a replica killed after its
//     callback succeeded and before the acknowledgement reached the server
//     has the deadline handed over again (Deadline.Attempt > 1). The caller
//     makes its effect idempotent with Deadline.ID, a stable id of the key
//     and due time: use it as the Nats-Msg-Id of what it publishes (ALERTS
//     drops a second copy) or record it with its state by compare-and-set.
//     The same covers the server's own at-least-once: a server killed
//     between storing a due message and purging its schedule, or a stream
//     leader that loses its leadership while firing, can fire a schedule a
//     second time.
//   - A Cancel or Schedule that reaches the server after Due + Lateness is
//     too late for the old deadline, which fires (or has fired). Worse, a
//     Schedule of a key that lands in the instant its old deadline is being
//     fired can be purged with the old schedule (the server purges the
//     schedule's subject after it fires). A caller whose deadlines move
//     (quiet) therefore checks in the callback that the deadline is still
//     the one its state holds, and schedules the current one again if not.
//   - Precision: the server checks its schedules at most every 250ms, so a
//     deadline fires up to about that much after its time; a deadline that
//     is already past when scheduled fires at once.
//   - The callback of a deadline that keeps failing is retried without end
//     (it is the only record of the deadline); it logs each failure.
package deadlines
