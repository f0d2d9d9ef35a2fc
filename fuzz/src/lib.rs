//! What each fuzz target checks, one function per decoder that reads network input.
//!
//! Beyond "no panic", every target checks, for any input:
//!
//! - each error has a message that is not empty, has no trailing period and stays short (the
//!   decoders quote and cut what they received, so a hostile body cannot blow up a log line);
//! - the spans that decoded, encoded with our encoder, decode again without any error; after
//!   that first trip, which may normalize what the module documents as not carried, another
//!   trip gives the same spans (up to the grouping the format documents) and the same bytes:
//!   whatever a receiver accepts, an exporter can forward, and it then stays as it is.
//!
//! The OTLP protobuf target also checks that the streaming decoder agrees with prost's decoding
//! of the whole `ExportTraceServiceRequest` followed by [`otlp::from_request`] (the gRPC path)
//! whenever prost accepts the body.
//!
//! A new target is a function here, a two-line file in `fuzz_targets/`, a `[[bin]]` in
//! `Cargo.toml` and its seeds in [`seeds`]; `scripts/fuzz` runs every target `cargo fuzz list`
//! shows.

use std::fmt::{Debug, Display};
use std::sync::Arc;

use threadline::{Resource, SpanData, TraceId};
use threadline_wire::jaeger::{binary, compact, json as jaeger_json};
use threadline_wire::{otlp, zipkin, Decoded};

pub mod seeds;

/// Longest acceptable error message, in bytes: every quoted value is cut after 40 characters,
/// so only the nesting of a path or a parser's own text adds to the fixed wording.
const MAX_MESSAGE: usize = 1024;

/// Zipkin v2 JSON, the body of `POST /api/v2/spans`.
pub fn zipkin_json(body: &[u8]) {
    check(
        body,
        zipkin::json::decode_lenient,
        |spans| vec![zipkin::json::encode(spans)],
        <[SpanData]>::to_vec,
    );
}

/// Zipkin proto3 `ListOfSpans`, the body of `POST /api/v2/spans`.
pub fn zipkin_proto(body: &[u8]) {
    check(
        body,
        zipkin::proto::decode_lenient,
        |spans| vec![zipkin::proto::encode(spans)],
        <[SpanData]>::to_vec,
    );
}

/// OTLP protobuf `ExportTraceServiceRequest`, the body of `POST /v1/traces` and the gRPC
/// message, checked against prost plus [`otlp::from_request`].
pub fn otlp_proto(body: &[u8]) {
    let decoded = check(
        body,
        otlp::proto::decode_lenient,
        |spans| vec![otlp::proto::encode(spans)],
        grouped,
    );
    // prost skips unknown fields that are groups (wire types 3 and 4, deprecated); our decoder
    // rejects them on purpose, as Zipkin's own proto3 reader does, so such bodies differ
    let rejects_groups = decoded.errors.iter().any(|error| {
        matches!(
            error,
            otlp::proto::DecodeError::Framing {
                reason: "groups are not supported",
                ..
            }
        )
    });
    use prost::Message as _;
    if rejects_groups {
        return;
    }
    if let Ok(request) = otlp::ExportTraceServiceRequest::decode(body) {
        let via_request = otlp::from_request(request);
        assert_same(&via_request.spans, &decoded.spans, "spans via from_request");
        assert_eq!(
            messages(&via_request.errors),
            messages(&decoded.errors),
            "errors via from_request"
        );
    }
}

/// OTLP/JSON `ExportTraceServiceRequest`, the body of `POST /v1/traces`.
pub fn otlp_json(body: &[u8]) {
    check(
        body,
        otlp::json::decode_lenient,
        |spans| vec![otlp::json::encode(spans)],
        grouped,
    );
}

/// Jaeger thrift compact `emitBatch`, what the agent reads on UDP port 6831.
pub fn jaeger_compact_emit_batch(body: &[u8]) {
    check(
        body,
        compact::decode_emit_batch_lenient,
        compact::encode_emit_batch,
        <[SpanData]>::to_vec,
    );
}

/// Jaeger thrift binary `Batch`, the body of the collector's `POST /api/traces`.
pub fn jaeger_binary_batch(body: &[u8]) {
    check(
        body,
        binary::decode_batch_lenient,
        binary::encode_batch,
        <[SpanData]>::to_vec,
    );
}

/// Jaeger thrift binary `emitBatch`, what the agent reads on UDP port 6832.
pub fn jaeger_binary_emit_batch(body: &[u8]) {
    check(
        body,
        binary::decode_emit_batch_lenient,
        binary::encode_emit_batch,
        <[SpanData]>::to_vec,
    );
}

/// Jaeger's JSON trace model, what its query API answers (a trace, an array of traces, or the
/// whole `{"data": [...]}` answer).
pub fn jaeger_json(body: &[u8]) {
    check(
        body,
        jaeger_json::decode_lenient,
        |spans| vec![jaeger_json::encode(spans)],
        by_trace,
    );
}

/// Jaeger thrift binary `Collector.submitBatches` call, the collector body opencensus-python
/// posts; the reply to it is also encoded for whatever number of batches was read.
pub fn jaeger_binary_submit_batches(body: &[u8]) {
    let call = binary::decode_submit_batches(body);
    // every batch takes at least its stop byte
    assert!(call.batches <= body.len(), "more batches than bytes");
    let reply = binary::encode_submit_batches_reply(call.seq_id, call.batches);
    assert!(binary::decode_submit_batches(&reply)
        .decoded
        .spans
        .is_empty());
    check(
        body,
        |body| binary::decode_submit_batches(body).decoded,
        |spans| vec![binary::encode_submit_batches(spans, 0)],
        <[SpanData]>::to_vec,
    );
}

/// Decodes `body`, checks the errors' messages and the round trip of what decoded, and hands
/// back what decoded.
fn check<E: Display + Debug>(
    body: &[u8],
    decode: fn(&[u8]) -> Decoded<E>,
    encode: fn(&[SpanData]) -> Vec<Vec<u8>>,
    normalize: fn(&[SpanData]) -> Vec<SpanData>,
) -> Decoded<E> {
    let decoded = decode(body);
    for error in &decoded.errors {
        check_message(&error.to_string());
    }

    // The first trip may normalize what a peer sent, as each module documents (an attribute
    // under a key the mapping owns, an annotation shaped like a message event); from then on
    // nothing may change.
    let first = encode(&decoded.spans);
    let normalized = decode_all(&first, decode);
    let bodies = encode(&normalized);
    let again = decode_all(&bodies, decode);
    assert_same(&again, &normalize(&normalized), "spans after a round trip");
    assert!(
        encode(&again) == bodies,
        "encoding the spans decoded again gives other bytes than encoding them the first time"
    );
    decoded
}

/// Every span of our own bodies; any error there is a bug of the encoder or the decoder.
fn decode_all<E: Display>(bodies: &[Vec<u8>], decode: fn(&[u8]) -> Decoded<E>) -> Vec<SpanData> {
    let mut spans = Vec::new();
    for body in bodies {
        let decoded = decode(body);
        if let Some(error) = decoded.errors.first() {
            panic!("our own encoding does not decode: {error}\nbody: {body:02x?}");
        }
        spans.extend(decoded.spans);
    }
    spans
}

fn messages<E: Display>(errors: &[E]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

fn check_message(message: &str) {
    assert!(!message.trim().is_empty(), "an error with an empty message");
    assert!(
        !message.ends_with('.'),
        "an error message ends with a period: {message}"
    );
    assert!(
        message.len() <= MAX_MESSAGE,
        "an error message of {} bytes: {message}",
        message.len()
    );
}

/// Compared through `Debug`, where NaN equals NaN and -0.0 differs from 0.0: bit-exact floats.
fn assert_same(found: &[SpanData], expected: &[SpanData], what: &str) {
    let (found, expected) = (format!("{found:#?}"), format!("{expected:#?}"));
    assert!(found == expected, "{what} differ:\n{found}\n!=\n{expected}");
}

/// The batch in the order OTLP gives it back: grouped by resource (same `Arc` or equal value),
/// then by scope name, each group in order of first appearance.
fn grouped(spans: &[SpanData]) -> Vec<SpanData> {
    type Scopes<'a> = Vec<(&'a str, Vec<SpanData>)>;
    let mut groups: Vec<(&Arc<Resource>, Scopes)> = Vec::new();
    for span in spans {
        let r = match groups
            .iter()
            .position(|(r, _)| Arc::ptr_eq(r, &span.resource) || **r == span.resource)
        {
            Some(r) => r,
            None => {
                groups.push((&span.resource, Vec::new()));
                groups.len() - 1
            }
        };
        let scopes = &mut groups[r].1;
        let s = match scopes.iter().position(|(s, _)| *s == &*span.scope) {
            Some(s) => s,
            None => {
                scopes.push((&span.scope, Vec::new()));
                scopes.len() - 1
            }
        };
        scopes[s].1.push(span.clone());
    }
    groups
        .into_iter()
        .flat_map(|(_, scopes)| scopes.into_iter().flat_map(|(_, spans)| spans))
        .collect()
}

/// The batch as an array of Jaeger traces gives it back: grouped by trace id, in order of first
/// appearance.
fn by_trace(spans: &[SpanData]) -> Vec<SpanData> {
    let mut ids: Vec<TraceId> = Vec::new();
    for span in spans {
        if !ids.contains(&span.trace_id) {
            ids.push(span.trace_id);
        }
    }
    ids.iter()
        .flat_map(|id| spans.iter().filter(move |s| s.trace_id == *id).cloned())
        .collect()
}

/// The propagation formats with a fuzz target each: the target's name is `propagation_` and
/// the `OTEL_PROPAGATORS` name.
pub const PROPAGATORS: &[&str] = &[
    "tracecontext",
    "baggage",
    "b3",
    "b3multi",
    "jaeger",
    "cloudtrace",
    "ocbinary",
];

/// One propagator's extraction from the headers it reads.
///
/// The input, read as text, is cut at newlines into values for the propagator's header names in
/// [`header_names`] order (so B3's several headers get different values). What it extracts is
/// remote and valid, and injecting that with the same propagator and extracting again gives the
/// same ids, sampling decision and baggage. For `ocbinary` the raw bytes also go through
/// [`threadline::propagation::from_bytes`], the format's byte parser, with the same check.
///
/// # Panics
///
/// When `name` is not a known propagator name, or a check above fails.
pub fn propagation(name: &str, input: &[u8]) {
    use std::collections::HashMap;
    use threadline::propagation::{self, propagator_by_name};

    if name == "ocbinary" {
        if let Ok(context) = propagation::from_bytes(input) {
            assert!(context.is_valid(), "binary format gave an invalid context");
            assert_eq!(
                propagation::from_bytes(&propagation::to_bytes(&context)).map(|c| summary(&c)),
                Ok(summary(&context))
            );
        }
    }

    let Some(propagator) = propagator_by_name(name) else {
        panic!("{name} is not a propagator name");
    };
    let text = String::from_utf8_lossy(input);
    let mut values = text.split('\n');
    let headers: HashMap<String, String> = header_names(name)
        .into_iter()
        .map(|header| (header, values.next().unwrap_or_default().to_string()))
        .collect();
    let extracted = propagator.extract(&headers);
    if let Some(context) = &extracted.span_context {
        assert!(
            context.is_valid() && context.from_header(),
            "{name}: {context:?}"
        );
    }
    if extracted.span_context.is_none() && extracted.baggage.is_empty() {
        return;
    }
    let mut out: HashMap<String, String> = HashMap::new();
    propagator.inject(&extracted, &mut out);
    let again = propagator.extract(&out);
    assert_eq!(
        again.span_context.as_ref().map(summary),
        extracted.span_context.as_ref().map(summary),
        "{name}: {headers:?} -> {out:?}"
    );
    assert!(
        again.baggage == extracted.baggage,
        "{name}: baggage {headers:?} -> {out:?}"
    );
}

/// The header names [`propagation`] fills for the propagator `name`, in the order it hands out
/// the values: the propagator's own fields, then a baggage header for Jaeger.
pub fn header_names(name: &str) -> Vec<String> {
    let mut names = threadline::propagation::propagator_by_name(name)
        .map(|p| p.fields())
        .unwrap_or_default();
    if name == "jaeger" {
        names.push("uberctx-key".to_string());
    }
    names
}

fn summary(context: &threadline::SpanContext) -> (String, String, bool) {
    (
        context.trace_id().to_string(),
        context.span_id().to_string(),
        context.is_sampled(),
    )
}
