// Package audit publishes every token decision to a NATS JetStream stream,
// as one CloudEvents 1.0 JSON event (docs/events.md), and reads them back.
//
// [Open] returns a [Publisher], the engine's [engine.Auditor]. With no NATS
// URL configured it runs nats-server in process (JetStream on the data
// directory), publishes over an in-process connection, and listens on a
// loopback port for readers. Events are published with the jetstream
// package's PublishMsgAsync, with a bounded number in flight, and re-sent
// with the same Nats-Msg-Id (the event id, a UUIDv7) after any failure, so
// the stream's duplicate window drops the copies. Two delivery modes:
//
//   - ack: Record returns once the stream acknowledged the event; if that
//     does not happen within the publish timeout the engine withholds the
//     token and answers temporarily_unavailable.
//   - buffered: Record returns once the event is in a local durable spool;
//     a forwarder publishes it, retrying until it is acknowledged.
//
// [Tail] reads events back, for `scopeline audit tail` and for Go
// consumers.
package audit
