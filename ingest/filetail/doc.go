// Package filetail is the file source (docs/running.md, "file"): it tails a Confluence
// audit log file (JSON lines, one audit entity a line) and hands the events
// to an ingest.Sink, advancing a checkpoint only after the sink stored them.
//
// # What is read
//
// Only complete lines are read: a last line without its newline waits for
// it. Lines are parsed one by one with event.Parse (the source's format,
// default confluence-auditing; event.source is the source's name) and stored
// in batches of Options.BatchSize events. Blank lines are skipped.
//
// A line that does not parse, or is longer than Options.MaxLineBytes, is
// logged with file:line and the error, counted in Stats, and skipped: it is
// not an event that could be accepted, and holding the tail on it would stop
// every later event from alerting. The rest of its batch goes through. The
// first 100 such lines of a file are logged one by one, then one line says
// that further ones are only counted, so that a wrong file or a binary one
// cannot flood the log.
//
// # Which file
//
// Path is either one file or a glob pattern (it contains *, ? or [).
//
//   - One file (e.g. .../current.audit.log, rotated by renaming it): a
//     rotation is seen as a different file (device and inode) at Path. The
//     old file, still open, is read to its end first, then the new one from
//     its start. The switch happens once the new file holds data, because a
//     writer that has written to the new file no longer writes to the old one;
//     until then the old file is still followed. A last line of the old file
//     without its newline is then taken as a line (the writer will not finish
//     it), and is normally counted as malformed.
//   - A pattern (e.g. .../log/audit/*.audit.log): Confluence Data Center
//     writes <local-home>/log/audit/YYYYMMDD-NNNNN.audit.log and starts a new
//     file at midnight or at 100 MB without renaming the old one. The matching
//     files are taken in the order of their names, which for these names is
//     the order they were written: when the file being read is at its end and
//     a file with a later name holds data, the tail finishes the one and goes
//     on with the other. Files with earlier names are never read after a later
//     one.
//
// A missing file (or no match) is waited for, and logged once. A file that
// becomes shorter than what was read (truncated, or rewritten by
// copytruncate) is read again from its start; that is logged and counted. A
// truncation that is followed, before the next poll, by more writes than
// were read before cannot be told from appends and is not detected.
//
// # Checkpoints
//
// After each stored batch the checkpoint under "file.<source name>" (or
// Options.CheckpointKey) is set to the offset after the batch's last line,
// with the file's identity: its path, device and inode (where the system has
// them), and a SHA-256 fingerprint of its first min(offset, 8 KiB) bytes,
// which are never rewritten in an append-only file. The fingerprint tells a
// different file from the checkpointed one even when it got the old inode
// back, and finds the checkpointed file after a copy.
//
// When Store fails the batch is retried with exponential backoff and jitter
// (only the failed events, when the sink says which), and the checkpoint
// stays where it was: nothing is lost. A crash between a Store and its
// checkpoint re-sends that batch on restart; event ids (a hash of the line's
// content, the audit file having no ids) let the EVENTS stream drop the
// duplicates. A checkpoint that cannot be written is logged and written again
// at the next poll; it only costs such re-sends.
//
// On start:
//
//   - Without a checkpoint the tail starts at the beginning of the file (for a
//     pattern: of the last matching file by name), not at its end: audit files
//     are bounded (100 MB), an event written while alerter was down should
//     still alert, and re-sent events are duplicates the stream drops. Older
//     files of a pattern are not read; `alerter replay --events` evaluates
//     them if needed.
//   - If the file at Path is the checkpointed one, reading resumes at the
//     offset (from 0 if it has become shorter: truncated while we were down).
//   - Otherwise the checkpointed file was rotated while we were down. With one
//     file, the regular files in Path's directory are searched for it (same
//     device and inode and fingerprint; failing that, same fingerprint); if
//     found, its rest is read, then the file at Path from its start. Only that
//     one file is found: if Path was rotated twice while we were down, the
//     file in between is not read (use a pattern for such a file set). If it
//     is not found, that is logged, and the file at Path is read from its
//     start. With a pattern, the checkpointed file is looked for among the
//     matches, its rest read, then every later match in name order; if it is
//     gone (deleted by retention), reading starts at the first match whose
//     name sorts at or after the checkpointed one.
//   - A checkpoint that cannot be decoded is logged and ignored, as if there
//     were none: re-sending is safe, stopping the source is not.
//
// The tail polls (os.Stat every Options.PollInterval) rather than using file
// notifications: polling sees renames, truncation and files on network
// mounts alike, costs one stat a poll, and needs no dependency.
package filetail
