//! Jaeger's JSON trace model, the `data` of the Jaeger query service's HTTP API
//! (`/api/traces`) that the Jaeger UI and Grafana's Jaeger data source read.
//!
//! A trace is `{"traceID", "spans", "processes", "warnings"}`; each span is
//! `{"traceID", "spanID", "flags", "operationName", "references", "startTime", "duration",
//! "tags", "logs", "processID", "warnings"}`, its process one entry of `processes`
//! (`{"serviceName", "tags"}`) keyed `p1`, `p2`, ... in order of first appearance. This is
//! Jaeger's `model/json`, as its query service writes it:
//!
//! - ids are lowercase hex: a span id is 16 digits, a trace id 16 when its high half is zero
//!   and 32 otherwise (Jaeger's `TraceID.String`); on input any 1 to 32 (16 for span ids)
//!   hex digits are read;
//! - `startTime` and `duration`, and a log's `timestamp`, are microseconds, JSON numbers;
//! - a tag is `{"key", "type", "value"}` with `type` one of `string`, `bool`, `int64`,
//!   `float64`, `binary`: an `int64` outside JavaScript's safe integers (±(2^53 - 1)) is written
//!   as a decimal string, as Jaeger does, `binary` is standard base64, and a `float64` that JSON
//!   cannot hold is the string `NaN`, `Infinity` or `-Infinity` (Jaeger cannot write those);
//! - `references` lists the parent first (`CHILD_OF`), then the links (`FOLLOWS_FROM`);
//! - `warnings` is `null`, and `flags` is 1 (sampled).
//!
//! What a span's fields and tags mean is the [one mapping](super) the thrift codecs use:
//! the JSON is written from, and read into, the same Jaeger structs, so the two forms cannot
//! drift apart. A round trip through JSON gives back what a round trip through thrift does,
//! except that spans keep their order (thrift groups them by resource).
//!
//! On input, a span may carry its process itself (`"process": {...}`, Jaeger's embedded form)
//! instead of a `processID`; a tag without `type` takes the type of its JSON value; an
//! `int64`, `float64` or `bool` tag may hold its value as a string (Jaeger's string form);
//! `flags`, `warnings` and unknown fields are ignored. [`decode`] reads one trace object, an
//! array of them, or the query API's whole answer (`{"data": [...]}`).
//!
//! # Examples
//!
//! ```
//! use threadline::{KeyValue, SpanData, SpanId, SpanKind, TraceId};
//! use threadline_wire::jaeger::json;
//!
//! let mut span = SpanData::new(TraceId(0xabc), SpanId(0x1), "get /users");
//! span.kind = SpanKind::Server;
//! span.start_time_unix_nano = 1_700_000_000_000_000_000;
//! span.end_time_unix_nano = 1_700_000_000_002_500_000;
//! span.attributes.push(KeyValue::new("http.status_code", 200));
//! let trace = json::encode_trace(&[span.clone()]);
//! let text = String::from_utf8(trace.clone()).unwrap();
//! assert!(text.starts_with(r#"{"traceID":"0000000000000abc","spans":[{"traceID":"0000000000000abc","spanID":"0000000000000001","flags":1,"operationName":"get /users""#));
//! assert!(text.contains(r#"{"key":"http.status_code","type":"int64","value":200}"#));
//! assert!(text.contains(r#"{"key":"span.kind","type":"string","value":"server"}"#));
//! assert_eq!(json::decode(&trace).unwrap()[0].name, "get /users");
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use threadline::{Resource, SpanData, TraceId};

use super::model;
use super::thrift::{Log, Process, RefType, Span, SpanRef, Tag, TagValue};
use crate::{json_write, quote, Decoded, Problem, SpanError};

/// The media type of an encoded body.
pub const CONTENT_TYPE: &str = "application/json";

/// The largest integer JavaScript holds exactly; Jaeger writes `int64` tags beyond it as
/// strings so that the UI does not round them.
const JS_MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Why a Jaeger JSON body, or a span in it, could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not well-formed JSON (or not UTF-8); nothing of it was read.
    #[error("body is not valid JSON: {0}")]
    Syntax(#[source] serde_json::Error),
    /// The body is JSON but neither a trace, an array of traces nor `{"data": [...]}`.
    #[error("body is {found}, expected a Jaeger trace object or an array of them")]
    NotATrace {
        /// What it is instead, e.g. `a number`.
        found: &'static str,
    },
    /// A trace could not be read (not an object, `spans` not an array, a bad process); the
    /// spans of that trace were rejected with it.
    #[error("trace {index}: {problem}")]
    Trace {
        /// The trace's position in the body, counted from 0.
        index: usize,
        /// What was wrong with it.
        problem: Problem,
    },
    /// One span was rejected; its index counts spans over all traces of the body.
    #[error(transparent)]
    Span(#[from] SpanError),
}

/// A trace id as Jaeger writes it: 16 lowercase hex digits when the high half is zero, 32
/// otherwise.
///
/// # Examples
///
/// ```
/// use threadline::TraceId;
/// use threadline_wire::jaeger::json::trace_id_text;
///
/// assert_eq!(trace_id_text(TraceId(0xabc)), "0000000000000abc");
/// assert_eq!(trace_id_text(TraceId(1 << 64)), "00000000000000010000000000000000");
/// ```
pub fn trace_id_text(trace_id: TraceId) -> String {
    let mut out = Vec::with_capacity(32);
    write_trace_id(&mut out, (trace_id.0 >> 64) as u64, trace_id.0 as u64);
    String::from_utf8(out).unwrap_or_default()
}

/// Encodes spans as one Jaeger trace object, the spans in the order given.
///
/// The trace's `traceID` is the first span's; the spans are expected to share it (each span
/// carries its own `traceID` all the same). An empty slice gives a trace with no spans and
/// an empty `traceID`.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::json;
///
/// let spans = [
///     SpanData::new(TraceId(7), SpanId(1), "a"),
///     SpanData::new(TraceId(7), SpanId(2), "b"),
/// ];
/// let text = String::from_utf8(json::encode_trace(&spans)).unwrap();
/// assert!(text.ends_with(r#""processes":{"p1":{"serviceName":"","tags":[]}},"warnings":null}"#));
/// ```
pub fn encode_trace(spans: &[SpanData]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + spans.len() * 512);
    encode_trace_into(spans, &mut out);
    out
}

/// [`encode_trace`], appending to `out`.
pub fn encode_trace_into(spans: &[SpanData], out: &mut Vec<u8>) {
    let groups = model::group_by_resource(spans);
    let mut process_of = vec![0usize; spans.len()];
    for (g, (_, members)) in groups.iter().enumerate() {
        for &i in members {
            process_of[i] = g;
        }
    }
    out.extend_from_slice(b"{\"traceID\":");
    match spans.first() {
        Some(first) => {
            out.push(b'"');
            write_trace_id(
                out,
                (first.trace_id.0 >> 64) as u64,
                first.trace_id.0 as u64,
            );
            out.push(b'"');
        }
        None => out.extend_from_slice(b"\"\""),
    }
    out.extend_from_slice(b",\"spans\":[");
    for (i, span) in spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_span(out, &model::to_span(span), process_of[i] + 1);
    }
    out.extend_from_slice(b"],\"processes\":{");
    for (g, (process, _)) in groups.iter().enumerate() {
        if g > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"\"p");
        json_write::u64(out, g as u64 + 1);
        out.extend_from_slice(b"\":{\"serviceName\":");
        json_write::string(out, &process.service_name);
        out.extend_from_slice(b",\"tags\":");
        write_tags(out, &process.tags);
        out.push(b'}');
    }
    out.extend_from_slice(b"},\"warnings\":null}");
}

/// Encodes spans as a JSON array of Jaeger traces: the spans grouped by trace id, in order of
/// first appearance, each group in the order given.
///
/// # Examples
///
/// ```
/// use threadline::{SpanData, SpanId, TraceId};
/// use threadline_wire::jaeger::json;
///
/// let spans = [
///     SpanData::new(TraceId(1), SpanId(1), "a"),
///     SpanData::new(TraceId(2), SpanId(2), "b"),
///     SpanData::new(TraceId(1), SpanId(3), "c"),
/// ];
/// let body = json::encode(&spans);
/// let names: Vec<_> = json::decode(&body).unwrap().into_iter().map(|s| s.name).collect();
/// assert_eq!(names, ["a", "c", "b"]);
/// ```
pub fn encode(spans: &[SpanData]) -> Vec<u8> {
    let mut traces: Vec<(TraceId, Vec<SpanData>)> = Vec::new();
    for span in spans {
        match traces.iter_mut().find(|(id, _)| *id == span.trace_id) {
            Some((_, members)) => members.push(span.clone()),
            None => traces.push((span.trace_id, vec![span.clone()])),
        }
    }
    let mut out = Vec::with_capacity(16 + spans.len() * 600);
    out.push(b'[');
    for (i, (_, members)) in traces.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        encode_trace_into(members, &mut out);
    }
    out.push(b']');
    out
}

/// Decodes a Jaeger JSON body, all or nothing.
///
/// # Errors
///
/// The first problem found (see [`decode_lenient`] to keep the valid spans).
///
/// # Examples
///
/// ```
/// use threadline_wire::jaeger::json;
///
/// let body = br#"{"traceID":"1","spans":[{"traceID":"1","spanID":"0","startTime":1,"processID":"p1"}],
///                 "processes":{"p1":{"serviceName":"web"}}}"#;
/// assert_eq!(json::decode(body).unwrap_err().to_string(), r#"span 0: spanID "0" is zero"#);
/// ```
pub fn decode(body: &[u8]) -> Result<Vec<SpanData>, DecodeError> {
    decode_lenient(body).into_result()
}

/// Decodes a Jaeger JSON body, keeping every valid span: one trace object, an array of trace
/// objects, or the query API's answer `{"data": [traces...]}`.
///
/// Each invalid span adds one [`DecodeError::Span`], each unreadable trace one
/// [`DecodeError::Trace`].
///
/// # Examples
///
/// ```
/// use threadline_wire::jaeger::json;
///
/// let body = br#"{"data":[{"traceID":"1","processes":{"p1":{"serviceName":"web"}},"spans":[
///     {"traceID":"1","spanID":"2","operationName":"ok","startTime":1,"duration":2,"processID":"p1"},
///     {"traceID":"1","spanID":"3","operationName":"bad","startTime":1,"processID":"p9"}]}]}"#;
/// let decoded = json::decode_lenient(body);
/// assert_eq!(decoded.spans[0].resource.service_name, "web");
/// assert_eq!(decoded.errors[0].to_string(), r#"span 1: processID "p9" is not one of the trace's processes"#);
/// ```
pub fn decode_lenient(body: &[u8]) -> Decoded<DecodeError> {
    let mut decoded = Decoded {
        spans: Vec::new(),
        errors: Vec::new(),
    };
    let traces = match serde_json::from_slice::<Json>(body) {
        Err(error) => {
            decoded.errors.push(DecodeError::Syntax(error));
            return decoded;
        }
        Ok(Json::Array(traces)) => traces,
        Ok(Json::Object(mut object)) if !object.contains_key("spans") => {
            match object.remove("data") {
                Some(Json::Array(traces)) => traces,
                Some(Json::Null) => Vec::new(),
                Some(other) => {
                    decoded.errors.push(DecodeError::Trace {
                        index: 0,
                        problem: Problem::wrong_type("data", type_of(&other), "an array"),
                    });
                    return decoded;
                }
                None => vec![Json::Object(object)],
            }
        }
        Ok(Json::Object(object)) => vec![Json::Object(object)],
        Ok(other) => {
            decoded.errors.push(DecodeError::NotATrace {
                found: type_of(&other),
            });
            return decoded;
        }
    };
    let mut next_span = 0;
    for (index, trace) in traces.into_iter().enumerate() {
        decode_trace(trace, &mut next_span, &mut decoded)
            .unwrap_or_else(|problem| decoded.errors.push(DecodeError::Trace { index, problem }));
    }
    decoded
}

// ---------------------------------------------------------------------------------------------
// Encoding

fn write_trace_id(out: &mut Vec<u8>, high: u64, low: u64) {
    if high != 0 {
        json_write::hex_u64(out, high);
    }
    json_write::hex_u64(out, low);
}

fn write_span(out: &mut Vec<u8>, span: &Span<'_>, process: usize) {
    let (high, low) = (span.trace_id_high as u64, span.trace_id_low as u64);
    out.extend_from_slice(b"{\"traceID\":\"");
    write_trace_id(out, high, low);
    out.extend_from_slice(b"\",\"spanID\":\"");
    json_write::hex_u64(out, span.span_id as u64);
    out.push(b'"');
    if span.flags != 0 {
        out.extend_from_slice(b",\"flags\":");
        json_write::i64(out, i64::from(span.flags));
    }
    out.extend_from_slice(b",\"operationName\":");
    json_write::string(out, &span.operation_name);
    out.extend_from_slice(b",\"references\":[");
    for (i, reference) in span.references.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(match reference.ref_type {
            RefType::ChildOf => b"{\"refType\":\"CHILD_OF\",\"traceID\":\"",
            RefType::FollowsFrom => b"{\"refType\":\"FOLLOWS_FROM\",\"traceID\":\"",
        });
        write_trace_id(
            out,
            reference.trace_id_high as u64,
            reference.trace_id_low as u64,
        );
        out.extend_from_slice(b"\",\"spanID\":\"");
        json_write::hex_u64(out, reference.span_id as u64);
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"],\"startTime\":");
    json_write::i64(out, span.start_time);
    out.extend_from_slice(b",\"duration\":");
    json_write::i64(out, span.duration);
    out.extend_from_slice(b",\"tags\":");
    write_tags(out, &span.tags);
    out.extend_from_slice(b",\"logs\":[");
    for (i, log) in span.logs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"timestamp\":");
        json_write::i64(out, log.timestamp);
        out.extend_from_slice(b",\"fields\":");
        write_tags(out, &log.fields);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"processID\":\"p");
    json_write::u64(out, process as u64);
    out.extend_from_slice(b"\",\"warnings\":null}");
}

fn write_tags(out: &mut Vec<u8>, tags: &[Tag<'_>]) {
    out.push(b'[');
    for (i, tag) in tags.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"key\":");
        json_write::string(out, &tag.key);
        match &tag.value {
            TagValue::Str(text) => {
                out.extend_from_slice(b",\"type\":\"string\",\"value\":");
                json_write::string(out, text);
            }
            TagValue::Bool(flag) => {
                out.extend_from_slice(b",\"type\":\"bool\",\"value\":");
                out.extend_from_slice(if *flag { b"true" } else { b"false" });
            }
            TagValue::Long(n) => {
                out.extend_from_slice(b",\"type\":\"int64\",\"value\":");
                if (-JS_MAX_SAFE_INTEGER..=JS_MAX_SAFE_INTEGER).contains(n) {
                    json_write::i64(out, *n);
                } else {
                    out.push(b'"');
                    json_write::i64(out, *n);
                    out.push(b'"');
                }
            }
            TagValue::Double(x) => {
                out.extend_from_slice(b",\"type\":\"float64\",\"value\":");
                if !json_write::finite_f64(*x, |text| out.extend_from_slice(text.as_bytes())) {
                    json_write::string(out, crate::json_value::non_finite(*x));
                }
            }
            TagValue::Binary(bytes) => {
                out.extend_from_slice(b",\"type\":\"binary\",\"value\":");
                json_write::string(out, &crate::base64::encode(bytes));
            }
        }
        out.push(b'}');
    }
    out.push(b']');
}

// ---------------------------------------------------------------------------------------------
// Decoding

type Object = Map<String, Json>;

fn type_of(value: &Json) -> &'static str {
    match value {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// A field's value, `None` when absent or `null`.
fn field(object: &mut Object, name: &str) -> Option<Json> {
    object.remove(name).filter(|v| !v.is_null())
}

fn object(value: Json, path: &str) -> Result<Object, Problem> {
    match value {
        Json::Object(object) => Ok(object),
        other => Err(Problem::wrong_type(path, type_of(&other), "an object")),
    }
}

/// An array field; absent or `null` is empty.
fn array(object: &mut Object, name: &str, path: &str) -> Result<Vec<Json>, Problem> {
    match field(object, name) {
        None => Ok(Vec::new()),
        Some(Json::Array(items)) => Ok(items),
        Some(other) => Err(Problem::wrong_type(path, type_of(&other), "an array")),
    }
}

fn string(object: &mut Object, name: &str, path: &str) -> Result<Option<String>, Problem> {
    match field(object, name) {
        None => Ok(None),
        Some(Json::String(text)) => Ok(Some(text)),
        Some(other) => Err(Problem::wrong_type(path, type_of(&other), "a string")),
    }
}

fn required_string(object: &mut Object, name: &str, path: &str) -> Result<String, Problem> {
    string(object, name, path)?.ok_or_else(|| Problem::missing(path))
}

/// A hex id of 1 to `max_digits` digits, not zero.
fn hex_id(text: &str, max_digits: usize, path: &str) -> Result<u128, Problem> {
    if text.is_empty() || text.len() > max_digits || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Problem::invalid(
            path,
            quote(text),
            if max_digits == 16 {
                "is not 1 to 16 hex digits"
            } else {
                "is not 1 to 32 hex digits"
            },
        ));
    }
    match u128::from_str_radix(text, 16) {
        Ok(0) | Err(_) => Err(Problem::invalid(path, quote(text), "is zero")),
        Ok(id) => Ok(id),
    }
}

fn required_id(
    object: &mut Object,
    name: &str,
    path: &str,
    digits: usize,
) -> Result<u128, Problem> {
    let text = required_string(object, name, path)?;
    hex_id(&text, digits, path)
}

/// Microseconds: a non-negative whole JSON number that fits an i64.
fn micros(object: &mut Object, name: &str, path: &str) -> Result<Option<i64>, Problem> {
    match field(object, name) {
        None => Ok(None),
        Some(Json::Number(n)) => match n.as_u64().and_then(|n| i64::try_from(n).ok()) {
            Some(n) => Ok(Some(n)),
            None => Err(Problem::invalid(
                path,
                n.to_string(),
                "is not a whole number of microseconds from 0 to 2^63 - 1",
            )),
        },
        Some(other) => Err(Problem::wrong_type(path, type_of(&other), "a number")),
    }
}

fn split(id: u128) -> (i64, i64) {
    (id as u64 as i64, (id >> 64) as u64 as i64)
}

fn parse_tags(items: Vec<Json>, path: &str) -> Result<Vec<Tag<'static>>, Problem> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| parse_tag(item, &format!("{path}[{i}]")))
        .collect()
}

fn parse_tag(item: Json, path: &str) -> Result<Tag<'static>, Problem> {
    let mut tag = object(item, path)?;
    let key = required_string(&mut tag, "key", &format!("{path}.key"))?;
    let type_path = format!("{path}.type");
    let kind = string(&mut tag, "type", &type_path)?;
    let value_path = format!("{path}.value");
    let value = field(&mut tag, "value");
    let wrong = |value: &Json, expected: &'static str| {
        Problem::wrong_type(&value_path, type_of(value), expected)
    };
    let value = match (kind.as_deref(), value) {
        (_, None) => return Err(Problem::missing(value_path)),
        (Some("string"), Some(Json::String(text))) => TagValue::Str(text.into()),
        (Some("string"), Some(other)) => return Err(wrong(&other, "a string")),
        (Some("bool") | None, Some(Json::Bool(flag))) => TagValue::Bool(flag),
        (Some("bool"), Some(Json::String(text))) => match text.as_str() {
            "true" => TagValue::Bool(true),
            "false" => TagValue::Bool(false),
            _ => {
                return Err(Problem::invalid(
                    value_path,
                    quote(&text),
                    "is not a boolean",
                ))
            }
        },
        (Some("bool"), Some(other)) => return Err(wrong(&other, "a boolean")),
        (Some("int64"), Some(Json::Number(n))) => match n.as_i64() {
            Some(n) => TagValue::Long(n),
            None => {
                return Err(Problem::invalid(
                    value_path,
                    n.to_string(),
                    "is not a 64-bit integer",
                ))
            }
        },
        (Some("int64"), Some(Json::String(text))) => match text.parse::<i64>() {
            Ok(n) => TagValue::Long(n),
            Err(_) => {
                return Err(Problem::invalid(
                    value_path,
                    quote(&text),
                    "is not a 64-bit integer",
                ))
            }
        },
        (Some("int64"), Some(other)) => return Err(wrong(&other, "a number")),
        (None, Some(Json::Number(n))) => match n.as_i64() {
            Some(n) => TagValue::Long(n),
            None => TagValue::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        (Some("float64"), Some(Json::Number(n))) => {
            TagValue::Double(n.as_f64().unwrap_or(f64::NAN))
        }
        (Some("float64"), Some(Json::String(text))) => match text.as_str() {
            "NaN" => TagValue::Double(f64::NAN),
            "Infinity" => TagValue::Double(f64::INFINITY),
            "-Infinity" => TagValue::Double(f64::NEG_INFINITY),
            _ => match text.parse::<f64>() {
                Ok(x) => TagValue::Double(x),
                Err(_) => {
                    return Err(Problem::invalid(
                        value_path,
                        quote(&text),
                        "is not a number",
                    ))
                }
            },
        },
        (Some("float64"), Some(other)) => return Err(wrong(&other, "a number")),
        (Some("binary"), Some(Json::String(text))) => match crate::base64::decode(&text) {
            Some(bytes) => TagValue::Binary(bytes.into()),
            None => return Err(Problem::invalid(value_path, quote(&text), "is not base64")),
        },
        (Some("binary"), Some(other)) => return Err(wrong(&other, "a string")),
        (None, Some(Json::String(text))) => TagValue::Str(text.into()),
        (None, Some(other)) => return Err(wrong(&other, "a string, number or boolean")),
        (Some(other), Some(_)) => {
            return Err(Problem::invalid(
                type_path,
                quote(other),
                "is not string, bool, int64, float64 or binary",
            ))
        }
    };
    Ok(Tag {
        key: key.into(),
        value,
    })
}

fn parse_process(value: Json, path: &str) -> Result<Arc<Resource>, Problem> {
    let mut process = object(value, path)?;
    let service_name =
        required_string(&mut process, "serviceName", &format!("{path}.serviceName"))?;
    let tags_path = format!("{path}.tags");
    let tags = parse_tags(array(&mut process, "tags", &tags_path)?, &tags_path)?;
    Ok(model::resource_from_process(Process {
        service_name: Cow::Owned(service_name),
        tags,
    }))
}

/// One trace's spans into `decoded`, or the problem that stopped the whole trace.
fn decode_trace(
    trace: Json,
    next_span: &mut usize,
    decoded: &mut Decoded<DecodeError>,
) -> Result<(), Problem> {
    let mut trace = object(trace, "trace")?;
    let spans = array(&mut trace, "spans", "spans")?;
    let mut processes: HashMap<String, Arc<Resource>> = HashMap::new();
    if let Some(value) = field(&mut trace, "processes") {
        for (id, process) in object(value, "processes")? {
            let resource = parse_process(process, &format!("processes.{id}"))?;
            processes.insert(id, resource);
        }
    }
    for span in spans {
        let index = *next_span;
        *next_span += 1;
        match parse_span(span, &processes) {
            Ok(span) => decoded.spans.push(span),
            Err(problem) => decoded.errors.push(problem.at(index).into()),
        }
    }
    Ok(())
}

fn parse_span(
    value: Json,
    processes: &HashMap<String, Arc<Resource>>,
) -> Result<SpanData, Problem> {
    let mut span = object(value, "span")?;
    let trace_id = required_id(&mut span, "traceID", "traceID", 32)?;
    let span_id = required_id(&mut span, "spanID", "spanID", 16)?;
    let parent_span_id = match string(&mut span, "parentSpanID", "parentSpanID")? {
        Some(text) if text.is_empty() || text.bytes().all(|b| b == b'0') => 0,
        Some(text) => hex_id(&text, 16, "parentSpanID")? as u64 as i64,
        None => 0,
    };
    let operation_name = string(&mut span, "operationName", "operationName")?.unwrap_or_default();
    let mut references = Vec::new();
    for (i, item) in array(&mut span, "references", "references")?
        .into_iter()
        .enumerate()
    {
        let path = format!("references[{i}]");
        let mut reference = object(item, &path)?;
        let ref_type_path = format!("{path}.refType");
        let ref_type = match required_string(&mut reference, "refType", &ref_type_path)?.as_str() {
            "CHILD_OF" => RefType::ChildOf,
            "FOLLOWS_FROM" => RefType::FollowsFrom,
            other => {
                return Err(Problem::invalid(
                    ref_type_path,
                    quote(other),
                    "is not CHILD_OF or FOLLOWS_FROM",
                ))
            }
        };
        let (trace_id_low, trace_id_high) = split(required_id(
            &mut reference,
            "traceID",
            &format!("{path}.traceID"),
            32,
        )?);
        let span_id = required_id(&mut reference, "spanID", &format!("{path}.spanID"), 16)?;
        references.push(SpanRef {
            ref_type,
            trace_id_low,
            trace_id_high,
            span_id: span_id as u64 as i64,
        });
    }
    let start_time = micros(&mut span, "startTime", "startTime")?
        .ok_or_else(|| Problem::missing("startTime"))?;
    let duration = micros(&mut span, "duration", "duration")?.unwrap_or(0);
    let tags = parse_tags(array(&mut span, "tags", "tags")?, "tags")?;
    let mut logs = Vec::new();
    for (i, item) in array(&mut span, "logs", "logs")?.into_iter().enumerate() {
        let path = format!("logs[{i}]");
        let mut log = object(item, &path)?;
        let timestamp = micros(&mut log, "timestamp", &format!("{path}.timestamp"))?
            .ok_or_else(|| Problem::missing(format!("{path}.timestamp")))?;
        let fields_path = format!("{path}.fields");
        let fields = parse_tags(array(&mut log, "fields", &fields_path)?, &fields_path)?;
        logs.push(Log { timestamp, fields });
    }
    let resource = match field(&mut span, "process") {
        Some(process) => parse_process(process, "process")?,
        None => {
            let id = required_string(&mut span, "processID", "processID")?;
            processes.get(&id).cloned().ok_or_else(|| {
                Problem::invalid(
                    "processID",
                    quote(&id),
                    "is not one of the trace's processes",
                )
            })?
        }
    };
    let (trace_id_low, trace_id_high) = split(trace_id);
    let jaeger = Span {
        trace_id_low,
        trace_id_high,
        span_id: span_id as u64 as i64,
        parent_span_id,
        operation_name: Cow::Owned(operation_name),
        references,
        flags: 0,
        start_time,
        duration,
        tags,
        logs,
    };
    model::span_from_jaeger(jaeger, &resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use threadline::{KeyValue, SpanId, Value};

    #[test]
    fn ids_are_padded_as_jaeger_writes_them() {
        let mut span = SpanData::new(TraceId(0x1), SpanId(0x2), "op");
        span.parent_span_id = Some(SpanId(0x3));
        let text = String::from_utf8(encode_trace(&[span])).unwrap();
        assert!(text.contains(r#""traceID":"0000000000000001","spanID":"0000000000000002""#));
        assert!(text.contains(
            r#""references":[{"refType":"CHILD_OF","traceID":"0000000000000001","spanID":"0000000000000003"}]"#
        ));
        assert_eq!(
            trace_id_text(TraceId(u128::MAX)),
            "ffffffffffffffffffffffffffffffff"
        );
    }

    #[test]
    fn typed_tags_and_their_json_forms() {
        let mut span = SpanData::new(TraceId(1), SpanId(2), "op");
        span.attributes = vec![
            KeyValue::new("big", i64::MAX),
            KeyValue::new("small", -5i64),
            KeyValue::new("nan", f64::NAN),
            KeyValue::new("pi", 3.5),
            KeyValue::new("flag", true),
            KeyValue::new("bytes", Value::Bytes(vec![1, 2, 3])),
        ];
        let text = String::from_utf8(encode_trace(std::slice::from_ref(&span))).unwrap();
        for part in [
            r#"{"key":"big","type":"int64","value":"9223372036854775807"}"#,
            r#"{"key":"small","type":"int64","value":-5}"#,
            r#"{"key":"nan","type":"float64","value":"NaN"}"#,
            r#"{"key":"pi","type":"float64","value":3.5}"#,
            r#"{"key":"flag","type":"bool","value":true}"#,
            r#"{"key":"bytes","type":"binary","value":"AQID"}"#,
        ] {
            assert!(text.contains(part), "{part} not in {text}");
        }
        let back = decode(text.as_bytes()).unwrap().remove(0);
        assert_eq!(back.attributes[0], KeyValue::new("big", i64::MAX));
        assert!(matches!(back.attributes[2].value, Value::F64(x) if x.is_nan()));
        assert_eq!(back.attributes[5].value, Value::Bytes(vec![1, 2, 3]));
    }

    #[test]
    fn jaegers_own_fixture_is_read() {
        // the shape of Jaeger's model/json fixture: short ids, tags of every type, a process
        // with tags, a FOLLOWS_FROM reference
        let body = br#"{"traceID":"abc0","spans":[
          {"traceID":"abc0","spanID":"abc0","operationName":"root-span","startTime":1000,"duration":500,"processID":"p1"},
          {"traceID":"abc0","spanID":"123","operationName":"span1","references":[{"refType":"CHILD_OF","traceID":"abc0","spanID":"abc0"}],
           "startTime":1000,"duration":500,"tags":[{"key":"error","type":"bool","value":true},{"key":"int64","type":"int64","value":123},
           {"key":"float64","type":"float64","value":123.567},{"key":"binary","type":"binary","value":"AQ=="}],
           "logs":[{"timestamp":1400,"fields":[{"key":"error","type":"string","value":"something bad happened"}]}],"processID":"p2"},
          {"traceID":"abc0","spanID":"567","operationName":"span2","references":[{"refType":"FOLLOWS_FROM","traceID":"abc0","spanID":"abc0"}],
           "startTime":1000,"duration":500,"processID":"p2"}],
          "processes":{"p1":{"serviceName":"service_1"},"p2":{"serviceName":"service_2","tags":[{"key":"host","type":"string","value":"google.com"}]}}}"#;
        let spans = decode(body).unwrap();
        assert_eq!(spans.len(), 3);
        assert_eq!(spans[1].parent_span_id, Some(SpanId(0xabc0)));
        assert!(spans[1].status.as_ref().is_some_and(|s| !s.is_ok()));
        assert_eq!(spans[1].resource.service_name, "service_2");
        assert_eq!(
            spans[1].resource.attributes[0],
            KeyValue::new("host", "google.com")
        );
        assert_eq!(spans[1].annotations[0].time_unix_nano, 1_400_000);
        assert_eq!(spans[2].links[0].span_id, SpanId(0xabc0));
        assert_eq!(spans[0].end_time_unix_nano, 1_500_000);
    }

    #[test]
    fn problems_name_the_span_and_field() {
        let span = |fields: &str| {
            format!(
                r#"{{"traceID":"1","processes":{{"p1":{{"serviceName":"s"}}}},"spans":[{{"traceID":"1","spanID":"2","startTime":1,"processID":"p1",{fields}}}]}}"#
            )
        };
        let cases = [
            (
                r#""duration":-1"#,
                "span 0: duration -1 is not a whole number of microseconds from 0 to 2^63 - 1",
            ),
            (
                r#""tags":[{"key":"k","type":"int64","value":"x"}]"#,
                r#"span 0: tags[0].value "x" is not a 64-bit integer"#,
            ),
            (
                r#""tags":[{"key":"k","type":"list","value":1}]"#,
                r#"span 0: tags[0].type "list" is not string, bool, int64, float64 or binary"#,
            ),
            (
                r#""references":[{"refType":"PARENT","traceID":"1","spanID":"2"}]"#,
                r#"span 0: references[0].refType "PARENT" is not CHILD_OF or FOLLOWS_FROM"#,
            ),
            (
                r#""logs":[{"fields":[]}]"#,
                "span 0: logs[0].timestamp is missing",
            ),
        ];
        for (fields, message) in cases {
            let err = decode(span(fields).as_bytes()).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
        assert_eq!(
            decode(b"42").unwrap_err().to_string(),
            "body is a number, expected a Jaeger trace object or an array of them"
        );
        assert_eq!(
            decode(br#"[{"spans":{}}]"#).unwrap_err().to_string(),
            "trace 0: spans is an object, expected an array"
        );
        assert!(decode(b"[")
            .unwrap_err()
            .to_string()
            .starts_with("body is not valid JSON"));
    }
}
