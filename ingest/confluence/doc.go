// Package confluence reads a confluence-poll source (docs/running.md, "confluence-poll"): a Poller
// that walks Confluence's audit REST API window by window and hands the
// events to an ingest.Sink, a Directory that reads group membership through
// the same base URL and credentials, and Lists that keep the dynamic lists of
// the config (lists: {admins: {confluence_group: ...}}) fresh for rules.
//
// # Polling
//
// Each poll reads one fixed window [from, to]: to = now - lag, from = the
// previous window's end - overlap. The first poll of a source, with no
// checkpoint yet, reads one interval back (from = to - interval): a new
// source alerts on what happens from now on, not on the retained history. A
// window is at most Options.MaxWindow long (default 15m); a poller that is
// behind (after an outage) reads window after window without waiting, each
// checkpointed, so that a failure does not start the catch-up over and memory
// stays bounded.
//
// Events are parsed with event.Parse (format confluence-auditing or
// confluence-audit, Source the source's name). Their event.system is what
// the payload says (the entity's system, the legacy page's _links.base),
// else the source's base URL; their ids are computed once it is set.
//
// The events of a window are collected, then handed to the Sink oldest first
// (the APIs return newest first; rules measure windows in event time). The
// checkpoint, under the key "poll.<source name>", is written only after the
// Sink stored every event of the window: {"end": <window end>, "seen":
// {<event id>: <event time, unix ms>}}. "seen" holds the ids of the events at
// or after end - overlap, which the next window reads again; they are dropped
// there, so that a restart (or a new replica) with the same Checkpoints does
// not send them twice. Event ids are the content hashes of event.Parse (the
// audit APIs have no id). A window that fails anywhere (HTTP, a malformed
// page, the Sink, the checkpoint) is read again whole: what it stored before
// failing comes again with the same ids, which the EVENTS stream's msg-id
// dedup drops.
//
// # What is assumed about Confluence
//
// See event/testdata/README.md for the sources.
//
//   - auditing (Data Center 7.5+): GET {base}/rest/auditing/1.0/events?from=
//     &to=&limit= with from/to as UTC instants (2024-05-14T08:30:00.000Z, read
//     by Instant.parse). Results are newest first; later pages are asked for
//     with pageCursor set to pagingInfo.nextPageCursor (an opaque
//     "<ms>,<id>" keyset) and the same from/to/limit, until
//     pagingInfo.lastPage. nextPageLink is never followed: Confluence builds
//     it from the host the request came in on, which behind a reverse proxy
//     can be an internal one. A page without pagingInfo is taken as the last.
//   - legacy (/rest/api/audit; Cloud: base_url ends in /wiki): startDate and
//     endDate are epoch milliseconds, fixed for the whole window; start is an
//     offset, advanced by the number of records returned (not by limit, in
//     case the server caps limit), until a page is empty or has no
//     _links.next.
//   - Authentication: a token is sent as "Authorization: Bearer" (a Data
//     Center personal access token); else username and password as HTTP
//     basic (Cloud: e-mail and API token). 401 and 403 are not retried within
//     a poll: the poll fails with an error that says to check the
//     credentials (reading the audit log needs an administrator), and polls
//     go on with a growing delay, up to Options.MaxBackoff.
//   - 429 waits for Retry-After (seconds or an HTTP date; at least 1s, at most
//     1h), else backs off. 5xx (503 with Retry-After honoured too) and network
//     errors back off exponentially from 1s with jitter, capped at
//     MaxBackoff. Within a poll these are retried until the context ends: the
//     window is fixed, so a late success loses nothing.
//   - A page that is not well-formed JSON fails the poll (logged with its
//     line and column) and is read again at the next one. A well-formed
//     record the normalizer cannot read is logged, counted in
//     Stats.BadEvents and skipped, so that one odd record cannot stall the
//     source forever.
//
// # The poller's own searches
//
// Every audit search, the poller's included, writes an "Audit Log search
// performed" event (coverage area AUDIT_LOG, which the REST output does not
// carry). The poller drops such an event when its action key is
// atlassian.audit.event.action.audit.search (or, without a key, as in the
// legacy API, its action is "Audit Log search performed") and its actor is the
// poller's own account: the account's user key or account id (actor.id) or
// its username (actor.name). The account is learnt from GET
// {base}/rest/api/user/current (Data Center: username and userKey; Cloud:
// accountId), asked until it answers; until then the configured username is
// used, and with a token nothing is dropped (a warning says so). Audit
// searches by anyone else are kept: someone reading the audit log is worth a
// rule.
//
// # Directory
//
// Data Center (any host but *.atlassian.net): GET
// {base}/rest/api/group/{group}/member?start=&limit= lists users with
// username and userKey; GET {base}/rest/api/user/memberof?username= (or
// ?key=) lists a user's groups. Both are paged with start/limit, advanced by
// the number of results until a page is empty or has no _links.next (next is
// not followed, for the reason above). Whether nested groups' members are
// included is Confluence's choice, not ours.
//
// Cloud (*.atlassian.net, base_url ending in /wiki), best effort: GET
// {base}/rest/api/group/member?name=&start=&limit= (at most 200 a page) gives
// accountIds only, no usernames; GET {base}/rest/api/user/memberof?accountId=
// gives a user's groups. So on Cloud a list holds account ids, which rules
// compare with event.actor.id.
package confluence
