//! Zipkin v2, both directions: [`json`] (the JSON array of `zipkin2-api.yaml`) and [`proto`]
//! (the proto3 `ListOfSpans` of `zipkin.proto`).
//!
//! Both encodings share one mapping between [`SpanData`] and a Zipkin span, described below. It
//! follows the OpenTelemetry specification's Zipkin exporter rules (`trace/sdk_exporters/
//! zipkin.md` and `common/mapping-to-non-otlp.md`) where they say something, and the existing
//! OpenCensus and OpenTelemetry exporters where they do not.
//!
//! # Encoding: `SpanData` to Zipkin
//!
//! | `SpanData` | Zipkin | Notes |
//! |---|---|---|
//! | `trace_id` | `traceId` | always 32 hex digits (16 bytes in proto) |
//! | `span_id`, `parent_span_id` | `id`, `parentId` | |
//! | `name` | `name` | omitted when empty |
//! | `kind` | `kind` | CLIENT, SERVER, PRODUCER, CONSUMER; INTERNAL and UNSPECIFIED are omitted |
//! | `start_time_unix_nano` | `timestamp` | microseconds, truncated; omitted when 0 |
//! | `end_time_unix_nano` | `duration` | `end/1000 - start/1000` µs, at least 1 (Zipkin rounds sub-µs durations up); omitted when the end is 0 (unknown) |
//! | `resource.service_name` | `localEndpoint.serviceName` | |
//! | resource `host.ip` | `localEndpoint.ipv4`/`ipv6` | first IPv4 and first IPv6 address; also a tag, unless it is exactly `[ipv4]`, `[ipv6]` or `[ipv4, ipv6]` |
//! | `attributes` | `tags` | strings: numbers in their shortest form, booleans `true`/`false`, arrays as a JSON list, bytes as base64 |
//! | resource `attributes` | `tags` | as the OpenTelemetry Python exporter and the Collector do; a span attribute of the same key wins |
//! | `peer.service`, `server.address`, `net.peer.name`, `network.peer.address`, ... | `remoteEndpoint` | CLIENT and PRODUCER spans: the first attribute in the OpenTelemetry ranking; SERVER and CONSUMER spans (whose peer is the caller): `peer.service`, `network.peer.address`, `client.address`, `net.sock.peer.addr`. An IP address fills `ipv4`/`ipv6`, anything else `serviceName`, with the matching port attribute; the attributes stay tags too |
//! | `status` OK | `otel.status_code=OK` | plus `otel.status_description` when there is a description |
//! | `status` error | `otel.status_code=ERROR`, `error=<description>` | plus `census.status_code=<canonical code>` (OpenCensus Java's tag) and `otel.status_description` |
//! | `status.details()` | `threadline.status_details` | |
//! | `scope` | `otel.scope.name`, `otel.library.name` | the deprecated alias too, as the specification requires |
//! | `dropped.attributes` | `otel.dropped_attributes_count` | only when non-zero, like every count below |
//! | `dropped.annotations + dropped.message_events` | `otel.dropped_events_count` | |
//! | `dropped.message_events` | `threadline.dropped_message_events_count` | so the total above can be split again |
//! | `links.len() + dropped.links` | `otel.dropped_links_count` | Zipkin has no links, so the ones the span had are reported as dropped |
//! | `stack_trace` | `code.stacktrace` | |
//! | `annotations` | `annotations` | `{"description":{"key":value,...}}` (OpenTelemetry's form, attribute values typed as JSON, a non-zero dropped count as `otel.dropped_attributes_count` inside); an annotation without attributes is its bare description unless that would read back as something else |
//! | `message_events` | `annotations` | `SENT id=1 uncompressed_size=10 compressed_size=5` (`RECEIVED`, `UNSPECIFIED`): OpenCensus' Go and Java exporters write the bare direction word, so the same first word keeps them recognisable |
//!
//! Tags this mapping writes replace attributes of the same key. An `error` attribute that is
//! `false` is left out, as the specification asks: Zipkin marks any span with an `error` tag
//! failed. A repeat of the same annotation value in the same microsecond is left out (Zipkin's
//! annotations are a set). `debug` and `shared` are never set: Threadline spans never share an
//! id with their caller, and sampling has already been decided.
//!
//! # Decoding: Zipkin to `SpanData`
//!
//! The inverse of the table above, plus what real clients send:
//!
//! - a 16-hex-digit (64-bit) `traceId` becomes a trace id with a zero high half; ids must be
//!   hex (either case), and an all-zero `traceId` or `id` is an error, while an all-zero or
//!   empty `parentId` means a root span;
//! - a missing or `null` field is absent (the OpenTelemetry Python exporter sends
//!   `"kind": null`); a missing kind decodes as `Unspecified`;
//! - tag values that are numbers, booleans or lists (Zipkin requires strings) are kept in their
//!   JSON text; all other tags become string attributes, except those the table gives a meaning;
//! - status, from whichever convention the sender used: OpenTelemetry's `otel.status_code` with
//!   `error`, OpenCensus Java's `census.status_code`/`census.status_description`, OpenCensus
//!   Go's `error=<canonical code>` with `opencensus.status_description`, or a bare Zipkin
//!   `error` tag (an error with code `UNKNOWN` and the tag's text as description; `error=false`
//!   is dropped). A tag that does not parse stays an attribute;
//! - annotations in the OpenTelemetry Python form `{"name": {...}}` and the Java form
//!   `"name":{...}` become annotations with typed attributes; `SENT`/`RECV`/`RECEIVED`/
//!   `UNSPECIFIED` with optional `id=`, `uncompressed_size=` and `compressed_size=` become
//!   message events; any other value becomes an annotation with that description;
//! - `localEndpoint.serviceName` becomes `resource.service_name`, and its `ipv4`/`ipv6` the
//!   resource attribute `host.ip` (unless a `host.ip` tag is present). Spans of a batch with the
//!   same local endpoint share one `Arc<Resource>`;
//! - `remoteEndpoint.serviceName` becomes `peer.service`, its address `network.peer.address`
//!   and its port `network.peer.port` (a string, like every tag), each unless a tag already says
//!   the same. Written again, these give the same remote endpoint, so a span decoded from a peer
//!   survives further round trips unchanged;
//! - `parent_is_remote` is set for a span with a parent that is `shared`, SERVER or CONSUMER;
//! - `debug` is ignored; an unparseable endpoint address is ignored, as Zipkin does.
//!
//! # What Zipkin cannot carry
//!
//! | `SpanData` | What a round trip through Zipkin gives back |
//! |---|---|
//! | `links` | none; their number is added to `dropped.links` |
//! | `trace_state` | empty |
//! | attribute types | every attribute comes back a string (annotation attributes keep their JSON types; bytes come back as base64 strings) |
//! | resource attributes | they come back as span attributes; the resource keeps only `service_name` (and a `host.ip` the local endpoint holds exactly) |
//! | nanosecond times | truncated to microseconds; a zero-length span comes back 1 µs long |
//! | `kind` INTERNAL vs UNSPECIFIED | both come back `Unspecified` |
//! | `parent_is_remote` | derived from the kind, as above |
//! | the status code of an error | kept only through `census.status_code`; a peer that drops it leaves `UNKNOWN` |
//! | dropped counts, scope, stack trace | only as the tags in the table |
//! | attributes whose keys this mapping uses (`error`, `otel.status_code`, `host.ip`, ...) | replaced by or read as the mapping's own meaning |
//! | annotation order relative to message events | annotations first, then message events, each list in its own order |
//! | local endpoint port | ignored on decode (OpenCensus Python sends the Zipkin server's port there) |
//!
//! [`SpanData`]: threadline::SpanData

pub mod json;
mod model;
pub mod proto;

#[cfg(test)]
mod tests;
