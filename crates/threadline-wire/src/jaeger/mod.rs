//! Jaeger thrift, both directions: [`compact`] (the `emitBatch` message a Jaeger agent reads on
//! UDP port 6831, plus a splitter into packets of at most 65,000 bytes) and [`binary`] (the bare
//! `Batch` that is the body of the collector's `POST /api/traces`, and the `emitBatch` message of
//! the agent's UDP port 6832); and [`json`], the JSON trace model of Jaeger's query API (what
//! the Jaeger UI reads), written from and read into the same structs.
//!
//! The Thrift code is our own (`thrift.rs`, after `jaeger.thrift` and `agent.thrift`), not the
//! `thrift` crate: it covers exactly Jaeger's structs, skips unknown fields of any type, and
//! bounds every length, list size and nesting level by the bytes actually received, so hostile
//! input can neither allocate nor recurse without limit. One mapping, described below, turns
//! [`SpanData`] into those structs and back. It follows the OpenTelemetry specification's
//! Jaeger rules (`trace/sdk_exporters/jaeger.md`, `common/mapping-to-non-otlp.md`) and the
//! OpenTelemetry Collector's Jaeger translator where the specification is silent.
//!
//! # The mapping
//!
//! | `SpanData` | Jaeger | Notes |
//! |---|---|---|
//! | `resource` | `Batch.process` | one `Batch` (so one message or body) per distinct resource (same `Arc` or equal value), in order of first appearance. On decode, the spans of a batch share one `Arc<Resource>` |
//! | `resource.service_name` | `Process.serviceName` | |
//! | `resource.attributes` | `Process.tags` | typed as span tags are; on decode every process tag is kept, including what jaeger-client-python sends (`jaeger.version`, `hostname`, `ip`, and `client-uuid` when it throttles) |
//! | `trace_id` | `traceIdLow`, `traceIdHigh` | the low and high 64 bits, as `i64` holding the bits; both zero is an error |
//! | `span_id` | `spanId` | zero is an error |
//! | `parent_span_id` | `parentSpanId` and a `CHILD_OF` reference | `parentSpanId` 0 for a root span. Both are written, as Jaeger clients do; on decode a 0 `parentSpanId` takes the first `CHILD_OF` reference in the same trace, and the reference naming the parent is not also kept as a link |
//! | `links` | `FOLLOWS_FROM` references | as the specification says. Any other reference (a `CHILD_OF` to another trace or a second parent) decodes as a link too. Decoded links are `PARENT_LINKED_SPAN`: the referenced span precedes this one |
//! | link attributes and their dropped counts | tag `threadline.dropped_link_attributes_count` | `long`, the total over all links, when non-zero: references have no attributes, so they are counted as dropped |
//! | `name` | `operationName` | |
//! | (sampled) | `flags` = 1 | only sampled spans are exported; ignored on decode |
//! | `start_time_unix_nano` | `startTime` | microseconds, truncated |
//! | `end_time_unix_nano` | `duration` | `end/1000 - start/1000` µs, 0 when the end is unknown (0) or before the start. Negative values are an error |
//! | `attributes` | `tags` | string → `STRING`, int → `LONG`, double → `DOUBLE` (NaN and infinities included), bool → `BOOL`, bytes → `BINARY`; arrays as their JSON text in a `STRING` tag (bytes in base64, non-finite doubles as `"NaN"`, `"Infinity"`, `"-Infinity"`) |
//! | `kind` | tag `span.kind` | `client`, `server`, `producer`, `consumer`, `internal`; none for unspecified |
//! | `status` OK | `otel.status_code=OK` | plus `otel.status_description` when there is a description |
//! | `status` error | `otel.status_code=ERROR`, `error=true` (a `BOOL`) | plus `otel.status_description`, and `threadline.status_code` = the canonical name (`NOT_FOUND`, ...) unless it is `UNKNOWN`, which is what an error without it decodes to |
//! | `status.details()` | tag `threadline.status_details` | |
//! | `scope` | tags `otel.scope.name`, `otel.library.name` | the deprecated alias too, as the specification requires; none for an empty scope |
//! | `trace_state` | tag `w3c.tracestate` | the W3C header form, as the Collector writes it; none when empty |
//! | `stack_trace` | tag `code.stacktrace` | |
//! | `dropped.attributes` | tag `otel.dropped_attributes_count` | `long`, only when non-zero, like every count below |
//! | `dropped.annotations + dropped.message_events` | tag `otel.dropped_events_count` | |
//! | `dropped.message_events` | tag `threadline.dropped_message_events_count` | so the total above can be split again |
//! | `dropped.links` | tag `otel.dropped_links_count` | |
//! | `annotations` | `logs` | timestamp in µs; fields: `event` = the description (left out when empty), then the attributes as typed tags, then `otel.dropped_attributes_count` when non-zero |
//! | `message_events` | `logs` | fields `event=message`, `message.type` (`SENT`, `RECEIVED`, `UNSPECIFIED`), `message.id`, `message.uncompressed_size`, `message.compressed_size` (`long`s holding the u64's bits), as in the OTLP mapping. Logs are the two lists merged by time, each list keeping its order |
//!
//! The tags this mapping writes replace span attributes of the same key; an annotation
//! attribute named `event` or `otel.dropped_attributes_count` is left out the same way.
//!
//! # Decoding what other senders write
//!
//! - A tag without the value field of its `vType` (opencensus-python's `status.message` for
//!   a status without a message is a `STRING` tag with no `vStr`) reads as that type's zero
//!   value (`""`, `0`, `0.0`, `false`, no bytes), as Jaeger's collector reads it.
//! - A bare `error` tag, `BOOL` true or the string `true` (jaeger-client-python's failed span),
//!   without `otel.status_code` is an `UNKNOWN` error with an empty description; `error=false`
//!   stays an attribute.
//! - The mapping's tags are read only when they hold the type and values they are written
//!   with (`span.kind` a known kind, `otel.status_code` `OK` or `ERROR`, counts `LONG`s that fit
//!   a u32, `w3c.tracestate` a valid header); otherwise they stay attributes.
//! - Other span tags (`sampler.type`, `sampler.param`, ...) are attributes; a repeated key
//!   keeps its first position and its last value.
//! - A log is a message event only when it has exactly the five fields above with those types
//!   and a valid `message.type`; any other log is an annotation, described by its `event` field
//!   (a string) or else with an empty description.
//! - `parent_is_remote` is set for a span with a parent whose kind is SERVER or CONSUMER.
//! - `flags`, `Batch.seqNo`, `Batch.stats` and unknown fields are ignored. The required fields
//!   of `jaeger.thrift` are required, as Jaeger's own collector requires them.
//!
//! # What Jaeger cannot carry
//!
//! | `SpanData` | What a round trip through Jaeger gives back |
//! |---|---|
//! | span order | grouped by resource, each group in order of first appearance |
//! | nanosecond times | truncated to microseconds (start, end, annotations, message events) |
//! | an unknown end (0) or one before the start | the start time |
//! | array attributes | their JSON text, as a string |
//! | `parent_is_remote` | derived from the kind, as above |
//! | link attributes, trace state and type | none; the attributes counted in `threadline.dropped_link_attributes_count` (an attribute after decoding); every link comes back `PARENT_LINKED_SPAN` |
//! | annotation order relative to message events | each list keeps its order; Jaeger has one list, merged by time |
//! | an annotation shaped exactly like a message event | a message event |
//! | attributes whose keys the mapping uses | replaced by or read as the mapping's meaning |
//!
//! # Examples
//!
//! ```
//! use threadline::{SpanData, SpanId, TraceId};
//! use threadline_wire::jaeger::{binary, compact};
//!
//! let span = SpanData::new(TraceId(0x4bf9_2f35), SpanId(0xf067), "get /users");
//! let messages = compact::encode_emit_batch(&[span.clone()]);
//! assert_eq!(compact::decode_emit_batch(&messages[0]).unwrap(), vec![span.clone()]);
//! let bodies = binary::encode_batch(&[span.clone()]);
//! assert_eq!(binary::decode_batch(&bodies[0]).unwrap(), vec![span]);
//! ```
//!
//! [`SpanData`]: threadline::SpanData

pub mod binary;
pub mod compact;
pub mod json;
mod model;
mod thrift;

#[cfg(test)]
mod tests;

use threadline::SpanData;

use self::thrift::{message_type, BatchParts, Framing, Process, Reader, TType, Writer};
use crate::{quote, Decoded, Problem, SpanError};

/// The method name of the agent's call.
const EMIT_BATCH: &str = "emitBatch";
/// The method name of the collector's Thrift call (`Collector.submitBatches`).
const SUBMIT_BATCHES: &str = "submitBatches";

/// Why a Jaeger thrift body, or a span in it, could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes cannot be read as Thrift (truncated, an unknown type, a negative length, too
    /// deep a nesting); the spans before the fault were still read.
    #[error("body is not {expected}: {reason} at byte {offset}")]
    Framing {
        /// What the body should have been, e.g. `a Thrift compact emitBatch message`.
        expected: &'static str,
        /// Where the unreadable part starts.
        offset: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The message or the batch around the spans is unusable (another method, no process, a
    /// field of the wrong type); the spans of the batch were rejected with it.
    #[error("{0}")]
    Envelope(Problem),
    /// One span was rejected.
    #[error(transparent)]
    Span(#[from] SpanError),
}

/// Whether a body is an `emitBatch` call message or a bare `Batch`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    EmitBatch,
    Batch,
    /// `Collector.submitBatches(1: list<Batch> batches)`, binary only.
    SubmitBatches,
}

/// A batch's process and its spans' bytes, each with the span's position in the input.
type EncodedBatch<'a> = (Process<'a>, Vec<(usize, Vec<u8>)>);

/// Each span encoded on its own, per batch: the Thrift bytes of a struct do not depend on
/// where it sits, so a batch is its header, a list header and these bytes.
fn encoded_spans<W: Writer>(spans: &[SpanData]) -> Vec<EncodedBatch<'_>> {
    model::group_by_resource(spans)
        .into_iter()
        .map(|(process, members)| {
            let encoded = members
                .into_iter()
                .map(|i| {
                    let mut w = W::with_capacity(SPAN_BYTES);
                    thrift::write_span(&mut w, &model::to_span(&spans[i]));
                    (i, w.bytes())
                })
                .collect();
            (process, encoded)
        })
        .collect()
}

/// About what a span with a few attributes takes, to size buffers.
const SPAN_BYTES: usize = 512;

/// Writes what comes before a batch's spans: the message envelope when there is one, the
/// batch's process and the header of its list of `count` spans.
fn begin_body<W: Writer>(w: &mut W, shape: Shape, process: &Process<'_>, count: usize) {
    if shape == Shape::EmitBatch {
        // Jaeger clients send emitBatch as a oneway call with sequence id 0
        w.message_begin(EMIT_BATCH, message_type::ONEWAY, 0);
        w.struct_begin();
        w.field(1, TType::Struct);
    }
    w.struct_begin();
    w.field(1, TType::Struct);
    thrift::write_process(w, process);
    w.field(2, TType::List);
    w.list(TType::Struct, count);
}

/// Writes what comes after the spans [`begin_body`] announced.
fn end_body<W: Writer>(w: &mut W, shape: Shape) {
    w.struct_end();
    if shape == Shape::EmitBatch {
        w.struct_end();
    }
}

/// A body holding a batch of already encoded spans.
fn body<W: Writer>(shape: Shape, process: &Process<'_>, spans: &[&[u8]]) -> Vec<u8> {
    let len = spans.iter().map(|span| span.len()).sum::<usize>();
    let mut w = W::with_capacity(len + 256);
    begin_body(&mut w, shape, process, spans.len());
    for span in spans {
        w.raw(span);
    }
    end_body(&mut w, shape);
    w.bytes()
}

/// One body per resource, each span written straight into it.
fn encode<W: Writer>(shape: Shape, spans: &[SpanData]) -> Vec<Vec<u8>> {
    model::group_by_resource(spans)
        .into_iter()
        .map(|(process, members)| {
            let mut w = W::with_capacity(256 + members.len() * SPAN_BYTES);
            begin_body(&mut w, shape, &process, members.len());
            for i in members {
                thrift::write_span(&mut w, &model::to_span(&spans[i]));
            }
            end_body(&mut w, shape);
            w.bytes()
        })
        .collect()
}

/// Decodes a body, keeping every valid span.
fn decode<R: Reader>(r: R, shape: Shape, expected: &'static str) -> Decoded<DecodeError> {
    decode_message(r, shape, expected).0
}

/// Decodes a body, keeping every valid span; also gives the sequence id of its message (0
/// for a bare `Batch`) and the number of batches read.
fn decode_message<R: Reader>(
    mut r: R,
    shape: Shape,
    expected: &'static str,
) -> (Decoded<DecodeError>, i32, usize) {
    let mut batches = Vec::new();
    let mut envelope = None;
    let mut seq_id = 0;
    let framing = read_body(&mut r, shape, &mut batches, &mut envelope, &mut seq_id);
    let mut decoded = Decoded {
        spans: Vec::new(),
        errors: Vec::new(),
    };
    let framed = framing.is_ok();
    if let Some(problem) = envelope {
        decoded.errors.push(DecodeError::Envelope(problem));
    }
    // span positions count on across the batches of a submitBatches call
    let mut index = 0;
    let count = batches.len();
    let last = count.saturating_sub(1);
    for (i, parts) in batches.into_iter().enumerate() {
        // only the last batch can have been cut off by a framing error
        collect_batch(parts, framed || i < last, &mut index, &mut decoded);
    }
    if let Err(Framing { offset, reason }) = framing {
        decoded.errors.push(DecodeError::Framing {
            expected,
            offset,
            reason,
        });
    }
    (decoded, seq_id, count)
}

/// Adds the spans and problems of one batch to `decoded`; `complete` when the batch was read
/// to its end (a missing field is then an error rather than the effect of a cut).
fn collect_batch(
    parts: BatchParts,
    complete: bool,
    index: &mut usize,
    decoded: &mut Decoded<DecodeError>,
) {
    let mut envelope_error = |problem| decoded.errors.push(DecodeError::Envelope(problem));
    if let Some(problem) = parts.problem {
        envelope_error(problem);
        return;
    }
    match parts.process {
        None if complete => envelope_error(Problem::missing("process")),
        None => {}
        Some(Err(problem)) => envelope_error(problem),
        Some(Ok(process)) => match parts.spans {
            None if complete => envelope_error(Problem::missing("spans")),
            None => {}
            Some(spans) => {
                let resource = model::resource_from_process(process);
                for span in spans {
                    match span.and_then(|span| model::span_from_jaeger(span, &resource)) {
                        Ok(span) => decoded.spans.push(span),
                        Err(problem) => decoded.errors.push(problem.at(*index).into()),
                    }
                    *index += 1;
                }
            }
        },
    }
}

/// Reads the message envelope, if any, and the batches; a problem with the envelope stops
/// reading (the batch is not what it should be) without being a framing error.
fn read_body<R: Reader>(
    r: &mut R,
    shape: Shape,
    batches: &mut Vec<BatchParts>,
    envelope: &mut Option<Problem>,
    seq_id: &mut i32,
) -> Result<(), Framing> {
    if shape == Shape::Batch {
        thrift::read_batch(r, next_batch(batches))?;
    } else {
        let (name, kind, seq) = r.message_begin()?;
        *seq_id = seq;
        let (method, not_method, kinds): (&str, &'static str, &[u8]) = match shape {
            Shape::SubmitBatches => (
                SUBMIT_BATCHES,
                "is not submitBatches",
                &[message_type::CALL],
            ),
            _ => (
                EMIT_BATCH,
                "is not emitBatch",
                &[message_type::CALL, message_type::ONEWAY],
            ),
        };
        if name != method {
            *envelope = Some(Problem::invalid("method name", quote(&name), not_method));
            return Ok(());
        }
        if !kinds.contains(&kind) {
            let expected = if kinds.len() == 1 {
                "is not CALL (1)"
            } else {
                "is not CALL (1) or ONEWAY (4)"
            };
            *envelope = Some(Problem::invalid("message type", kind.to_string(), expected));
            return Ok(());
        }
        r.struct_begin()?;
        let mut seen = false;
        while let Some((id, found)) = r.field()? {
            if id != 1 {
                r.skip(found)?;
                continue;
            }
            seen = true;
            match (shape, found) {
                (Shape::SubmitBatches, TType::List) => read_batch_list(r, batches, envelope)?,
                (Shape::SubmitBatches, _) => {
                    r.skip(found)?;
                    envelope.get_or_insert(Problem::wrong_type(
                        "batches",
                        found.name(),
                        "a list of structs",
                    ));
                }
                (_, TType::Struct) => thrift::read_batch(r, next_batch(batches))?,
                _ => {
                    r.skip(found)?;
                    envelope.get_or_insert(Problem::wrong_type("batch", found.name(), "a struct"));
                }
            }
        }
        r.struct_end();
        if !seen {
            envelope.get_or_insert(Problem::missing(if shape == Shape::SubmitBatches {
                "batches"
            } else {
                "batch"
            }));
        }
    }
    if r.left() > 0 {
        return Err(Framing {
            offset: r.pos(),
            reason: format!("{} bytes follow the end of the message", r.left()),
        });
    }
    Ok(())
}

/// Reads the `list<Batch>` argument of a `submitBatches` call.
fn read_batch_list<R: Reader>(
    r: &mut R,
    batches: &mut Vec<BatchParts>,
    envelope: &mut Option<Problem>,
) -> Result<(), Framing> {
    let at = r.pos();
    r.enter(at)?;
    let (element, len) = r.list()?;
    if element == TType::Struct {
        for _ in 0..len {
            thrift::read_batch(r, next_batch(batches))?;
        }
    } else {
        for _ in 0..len {
            r.skip(element)?;
        }
        envelope.get_or_insert(Problem::wrong_type(
            "batches",
            element.list_name(),
            "a list of structs",
        ));
    }
    *r.depth() -= 1;
    Ok(())
}

/// A new, empty [`BatchParts`] at the end of `batches`, for a reader to fill (what it read is
/// kept even if the bytes break off).
fn next_batch(batches: &mut Vec<BatchParts>) -> &mut BatchParts {
    batches.push(BatchParts::default());
    let last = batches.len() - 1;
    &mut batches[last]
}
