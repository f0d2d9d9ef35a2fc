//! Pre-encoded OTLP/HTTP requests whose ids, timestamps and request ids are patched in place
//! before each send, so that a send costs a few thousand small writes instead of an encode.
//!
//! A [`Template`] is one complete HTTP/1.1 request (head and OTLP protobuf body) for a batch of
//! spans, encoded once with placeholder ids that name each span's and trace's index in the
//! batch. Walking the encoded body finds the byte offset of every id, timestamp and
//! `request.id` value; [`Template::patch`] then overwrites them for one send sequence number.
//! Ids derive from the sequence number through a bijective mix, so they are unique across a
//! run (every send takes its own sequence number) and look random to the store.

use std::sync::Arc;

use threadline::{KeyValue, Resource, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId};

/// The attribute whose value is unique per span; its text is patched with each send.
pub const REQUEST_ID_KEY: &str = "request.id";
/// The placeholder value of `request.id`: 16 hex digits, the width of a span id.
const REQUEST_ID_WIDTH: usize = 16;

/// What the generated batches look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Spans in each request.
    pub spans_per_batch: usize,
    /// Attributes on each span.
    pub attributes: usize,
    /// Spans in each trace (the last trace of a batch may be shorter).
    pub spans_per_trace: usize,
    /// Distinct services (resources) the spans come from.
    pub services: usize,
}

/// Why a template could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A shape field is zero or too large to address.
    #[error("invalid batch shape: {0}")]
    Shape(&'static str),
    /// The encoded body did not walk as the request it was encoded from.
    #[error("encoded batch is not the expected OTLP request: {0} at byte {1}")]
    Walk(&'static str, usize),
}

/// Where a value to patch sits in the request, and which span or trace it belongs to.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// Byte offset in the request (head included).
    offset: usize,
    /// The index of the span (span ids, parent ids, request ids) or trace (trace ids) in the
    /// batch, or the placeholder timestamp (times).
    value: u64,
}

/// One pre-encoded request and the places its per-send values go.
#[derive(Clone, Debug)]
pub struct Template {
    request: Vec<u8>,
    head_len: usize,
    spans: usize,
    traces: usize,
    trace_ids: Vec<Slot>,
    span_ids: Vec<Slot>,
    times: Vec<Slot>,
    request_ids: Vec<Slot>,
    /// The wall clock the placeholder timestamps are relative to.
    base_time: u64,
    /// Scratch space for the ids of one send, indexed like the slots.
    scratch_trace_ids: Vec<[u8; 16]>,
    scratch_span_ids: Vec<u64>,
}

/// The per-run values ids are derived from, so that two runs against one server do not reuse
/// ids; both below 2^63 so that adding a sequence number below 2^63 never wraps to zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdSeed {
    trace: u64,
    span: u64,
}

impl IdSeed {
    /// A seed from a number (the clock, usually).
    pub fn new(entropy: u64) -> IdSeed {
        IdSeed {
            trace: (mix64(entropy ^ 0x7472_6163_6569_6473) >> 1).max(1),
            span: (mix64(entropy ^ 0x7370_616e_6964_7321) >> 1).max(1),
        }
    }
}

/// A bijection on u64 (the splitmix64 finaliser): distinct inputs give distinct outputs, and
/// only 0 maps to 0.
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A small deterministic generator for the attribute values of a template.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const METHODS: [&str; 4] = ["GET", "GET", "POST", "PUT"];
const ROUTES: [&str; 8] = [
    "/api/users/{id}",
    "/api/users",
    "/api/orders/{id}",
    "/api/orders",
    "/api/cart",
    "/api/search",
    "/api/products/{id}",
    "/health",
];
const STATUSES: [i64; 8] = [200, 200, 200, 200, 201, 204, 404, 500];
const HOSTS: [&str; 6] = ["node-a", "node-b", "node-c", "node-d", "node-e", "node-f"];
const DB_SYSTEMS: [&str; 3] = ["postgresql", "redis", "mongodb"];
const CHILD_OPERATIONS: [&str; 6] = [
    "SELECT users",
    "redis GET",
    "authorize",
    "render",
    "HTTP GET inventory",
    "publish order.created",
];

/// The attributes of one span, `count` of them: `request.id` first (unique per span once
/// patched), then low-cardinality HTTP keys, medium-cardinality user and tenant ids, and more.
fn attributes(rng: &mut Rng, count: usize, route: &str, status: i64) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let kv = match i {
            0 => KeyValue::new(REQUEST_ID_KEY, "0".repeat(REQUEST_ID_WIDTH)),
            1 => KeyValue::new("http.method", METHODS[rng.below(METHODS.len())]),
            2 => KeyValue::new("http.status_code", status),
            3 => KeyValue::new("http.route", route.to_string()),
            4 => KeyValue::new("user.id", format!("user-{:04}", rng.below(1000))),
            5 => KeyValue::new("server.address", HOSTS[rng.below(HOSTS.len())]),
            6 => KeyValue::new("tenant.id", format!("tenant-{:02}", rng.below(50))),
            7 => KeyValue::new("http.response_content_length", rng.below(65_536) as i64),
            8 => KeyValue::new("db.system", DB_SYSTEMS[rng.below(DB_SYSTEMS.len())]),
            9 => KeyValue::new("sampled.debug", rng.below(10) == 0),
            n => KeyValue::new(format!("custom.attr.{n}"), format!("v{}", rng.below(20))),
        };
        out.push(kv);
    }
    out
}

/// The spans of one batch, with placeholder ids: trace `t` has id `t + 1`, span `s` id `s + 1`,
/// and timestamps within the second before `base_time`.
pub fn placeholder_spans(shape: Shape, variant: u64, base_time: u64) -> Vec<SpanData> {
    let mut rng = Rng(mix64(variant.wrapping_add(1)));
    let resources: Vec<Arc<Resource>> = (0..shape.services)
        .map(|i| {
            let mut resource = Resource::new(format!("loadgen-service-{i}"));
            resource.attributes = vec![
                KeyValue::new("service.version", "1.4.2"),
                KeyValue::new("host.name", HOSTS[i % HOSTS.len()]),
            ];
            Arc::new(resource)
        })
        .collect();
    let mut spans = Vec::with_capacity(shape.spans_per_batch);
    for s in 0..shape.spans_per_batch {
        let trace = s / shape.spans_per_trace;
        let position = s % shape.spans_per_trace;
        let root = s - position;
        let root_service = (trace + variant as usize) % shape.services;
        let route = ROUTES[(trace + variant as usize) % ROUTES.len()];
        let status = STATUSES[rng.below(STATUSES.len())];
        let mut span = SpanData::new(
            TraceId(trace as u128 + 1),
            SpanId(s as u64 + 1),
            if position == 0 {
                format!("{} {route}", METHODS[trace % METHODS.len()])
            } else {
                CHILD_OPERATIONS[(position + trace) % CHILD_OPERATIONS.len()].to_string()
            },
        );
        // a binary tree under the root; children start later and end earlier
        span.parent_span_id =
            (position > 0).then(|| SpanId((root + (position - 1) / 2) as u64 + 1));
        span.kind = match position {
            0 => SpanKind::Server,
            p if p % 3 == 1 => SpanKind::Client,
            _ => SpanKind::Internal,
        };
        span.resource = resources[(root_service + position) % shape.services].clone();
        span.scope = "loadgen".into();
        let depth = (usize::BITS - (position + 1).leading_zeros()) as u64;
        let start_offset = 50_000_000 + depth * 1_000_000 + rng.below(500_000) as u64;
        span.start_time_unix_nano = base_time.saturating_sub(start_offset);
        span.end_time_unix_nano =
            span.start_time_unix_nano + 40_000_000 / depth + rng.below(1_000_000) as u64;
        span.attributes = attributes(&mut rng, shape.attributes, route, status);
        if status >= 500 {
            span.status = Some(Status::new(StatusCode::Internal, "upstream failed"));
        }
        spans.push(span);
    }
    spans
}

/// One protobuf field: its number, wire type and the bytes of its value.
struct Field {
    number: u64,
    wire_type: u8,
    /// The value (for length-delimited fields, without the length).
    start: usize,
    end: usize,
}

/// Reads a varint at `*at`, advancing past it.
fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64, TemplateError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes
            .get(*at)
            .ok_or(TemplateError::Walk("truncated varint", *at))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(TemplateError::Walk("varint too long", *at))
}

/// The fields of the message in `bytes[start..end]`.
fn fields(bytes: &[u8], start: usize, end: usize) -> Result<Vec<Field>, TemplateError> {
    let mut out = Vec::new();
    let mut at = start;
    while at < end {
        let key = read_varint(bytes, &mut at)?;
        let wire_type = (key & 7) as u8;
        let (value_start, value_end) = match wire_type {
            0 => {
                let from = at;
                read_varint(bytes, &mut at)?;
                (from, at)
            }
            1 => (at, at + 8),
            2 => {
                let len = read_varint(bytes, &mut at)? as usize;
                (at, at.saturating_add(len))
            }
            5 => (at, at + 4),
            _ => return Err(TemplateError::Walk("unsupported wire type", at)),
        };
        if value_end > end {
            return Err(TemplateError::Walk("field runs past its message", at));
        }
        at = value_end;
        out.push(Field {
            number: key >> 3,
            wire_type,
            start: value_start,
            end: value_end,
        });
    }
    Ok(out)
}

fn big_endian_index(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b))
        .saturating_sub(1) as u64
}

impl Template {
    /// Encodes one batch of `shape`, variant `variant` (its attribute values and services),
    /// as a request to `path` on `host`, with timestamps relative to `base_time` (Unix nanos).
    ///
    /// # Errors
    ///
    /// A shape with a zero field or more spans than ids can address; an encoded body that does
    /// not walk as expected (a bug in the encoder or here).
    pub fn new(
        shape: Shape,
        variant: u64,
        host: &str,
        path: &str,
        base_time: u64,
    ) -> Result<Template, TemplateError> {
        if shape.spans_per_batch == 0 || shape.spans_per_trace == 0 || shape.services == 0 {
            return Err(TemplateError::Shape(
                "spans per batch, spans per trace and services must be at least 1",
            ));
        }
        if shape.spans_per_batch > 1 << 20 {
            return Err(TemplateError::Shape("at most 1048576 spans per batch"));
        }
        let spans = placeholder_spans(shape, variant, base_time);
        let body = threadline_wire::otlp::proto::encode(&spans);
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/x-protobuf\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        let head_len = request.len();
        request.extend_from_slice(&body);
        let traces = shape.spans_per_batch.div_ceil(shape.spans_per_trace);
        let mut template = Template {
            request,
            head_len,
            spans: shape.spans_per_batch,
            traces,
            trace_ids: Vec::with_capacity(shape.spans_per_batch),
            span_ids: Vec::with_capacity(2 * shape.spans_per_batch),
            times: Vec::with_capacity(2 * shape.spans_per_batch),
            request_ids: Vec::with_capacity(shape.spans_per_batch),
            base_time,
            scratch_trace_ids: vec![[0; 16]; traces],
            scratch_span_ids: vec![0; shape.spans_per_batch],
        };
        template.find_slots()?;
        if template.span_ids.len() < template.spans || template.trace_ids.len() != template.spans {
            return Err(TemplateError::Walk("not every span's ids were found", 0));
        }
        Ok(template)
    }

    /// Records the offset of every value `patch` writes.
    fn find_slots(&mut self) -> Result<(), TemplateError> {
        let bytes = std::mem::take(&mut self.request);
        let result = self.find_slots_in(&bytes);
        self.request = bytes;
        result
    }

    fn find_slots_in(&mut self, bytes: &[u8]) -> Result<(), TemplateError> {
        let len_field = |f: &Field| f.wire_type == 2;
        // ExportTraceServiceRequest.resource_spans = 1
        for resource_spans in fields(bytes, self.head_len, bytes.len())?
            .iter()
            .filter(|f| f.number == 1 && len_field(f))
        {
            // ResourceSpans.scope_spans = 2
            for scope_spans in fields(bytes, resource_spans.start, resource_spans.end)?
                .iter()
                .filter(|f| f.number == 2 && len_field(f))
            {
                // ScopeSpans.spans = 2
                for span in fields(bytes, scope_spans.start, scope_spans.end)?
                    .iter()
                    .filter(|f| f.number == 2 && len_field(f))
                {
                    self.find_span_slots(bytes, span)?;
                }
            }
        }
        Ok(())
    }

    fn find_span_slots(&mut self, bytes: &[u8], span: &Field) -> Result<(), TemplateError> {
        // span_id (2) comes before attributes (9): the encoder writes fields in tag order
        let mut this_span = None;
        for field in fields(bytes, span.start, span.end)? {
            let value = &bytes[field.start..field.end];
            match (field.number, field.wire_type, value.len()) {
                // trace_id
                (1, 2, 16) => {
                    let trace = big_endian_index(value);
                    if trace >= self.traces as u64 {
                        return Err(TemplateError::Walk("unexpected trace id", field.start));
                    }
                    self.trace_ids.push(Slot {
                        offset: field.start,
                        value: trace,
                    });
                }
                // span_id, parent_span_id
                (2 | 4, 2, 8) => {
                    let index = big_endian_index(value);
                    if index >= self.spans as u64 {
                        return Err(TemplateError::Walk("unexpected span id", field.start));
                    }
                    if field.number == 2 {
                        this_span = Some(index);
                    }
                    self.span_ids.push(Slot {
                        offset: field.start,
                        value: index,
                    });
                }
                // start_time_unix_nano, end_time_unix_nano
                (7 | 8, 1, 8) => self.times.push(Slot {
                    offset: field.start,
                    value: u64::from_le_bytes(value.try_into().unwrap_or_default()),
                }),
                // attributes
                (9, 2, _) => {
                    let span = this_span.ok_or(TemplateError::Walk(
                        "attribute before the span id",
                        field.start,
                    ))?;
                    self.find_request_id(bytes, &field, span)?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Records the value of a `request.id` attribute (`KeyValue { key = 1, value = 2 }`,
    /// `AnyValue { string_value = 1 }`) as belonging to span number `span`.
    fn find_request_id(
        &mut self,
        bytes: &[u8],
        key_value: &Field,
        span: u64,
    ) -> Result<(), TemplateError> {
        let parts = fields(bytes, key_value.start, key_value.end)?;
        let is_request_id = parts
            .iter()
            .any(|f| f.number == 1 && &bytes[f.start..f.end] == REQUEST_ID_KEY.as_bytes());
        if !is_request_id {
            return Ok(());
        }
        let Some(any_value) = parts.iter().find(|f| f.number == 2 && f.wire_type == 2) else {
            return Ok(());
        };
        for text in fields(bytes, any_value.start, any_value.end)? {
            if text.number == 1 && text.end - text.start == REQUEST_ID_WIDTH {
                self.request_ids.push(Slot {
                    offset: text.start,
                    value: span,
                });
            }
        }
        Ok(())
    }

    /// The number of spans in the batch.
    pub fn spans(&self) -> usize {
        self.spans
    }

    /// The size of the OTLP body, without the HTTP head.
    pub fn body_len(&self) -> usize {
        self.request.len() - self.head_len
    }

    /// The whole request as last patched.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The OTLP body as last patched.
    #[cfg(test)]
    pub fn body(&self) -> &[u8] {
        &self.request[self.head_len..]
    }

    /// Rewrites the ids for send number `sequence` (unique per send across the run), and,
    /// when `now` is given (Unix nanos), moves every timestamp so the batch ends just before it.
    pub fn patch(&mut self, seed: IdSeed, sequence: u64, now: Option<u64>) {
        let hi = mix64(seed.trace.wrapping_add(sequence));
        for (t, slot) in self.scratch_trace_ids.iter_mut().enumerate() {
            // unique per (sequence, t): hi is unique per sequence, and for one hi this is a
            // bijection of t + 1, which is never 0, so neither is the id
            let lo = mix64(hi ^ (t as u64 + 1));
            slot[..8].copy_from_slice(&hi.to_be_bytes());
            slot[8..].copy_from_slice(&lo.to_be_bytes());
        }
        let first_span = sequence.wrapping_mul(self.spans as u64);
        for (s, slot) in self.scratch_span_ids.iter_mut().enumerate() {
            *slot = mix64(seed.span.wrapping_add(first_span + s as u64));
        }
        let request = &mut self.request;
        for slot in &self.trace_ids {
            request[slot.offset..slot.offset + 16]
                .copy_from_slice(&self.scratch_trace_ids[slot.value as usize]);
        }
        for slot in &self.span_ids {
            request[slot.offset..slot.offset + 8]
                .copy_from_slice(&self.scratch_span_ids[slot.value as usize].to_be_bytes());
        }
        for slot in &self.request_ids {
            write_hex(
                &mut request[slot.offset..slot.offset + REQUEST_ID_WIDTH],
                self.scratch_span_ids[slot.value as usize],
            );
        }
        if let Some(now) = now {
            let shift = now.saturating_sub(self.base_time);
            for slot in &self.times {
                request[slot.offset..slot.offset + 8]
                    .copy_from_slice(&(slot.value + shift).to_le_bytes());
            }
        }
    }
}

fn write_hex(out: &mut [u8], value: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = DIGITS[((value >> (60 - 4 * i)) & 0xf) as usize];
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    const SHAPE: Shape = Shape {
        spans_per_batch: 512,
        attributes: 10,
        spans_per_trace: 8,
        services: 5,
    };
    const BASE: u64 = 1_700_000_000_000_000_000;

    fn template(shape: Shape, variant: u64) -> Template {
        Template::new(shape, variant, "127.0.0.1:4318", "/v1/traces", BASE).expect("template")
    }

    #[test]
    fn the_request_is_a_head_and_the_encoded_placeholder_batch() {
        let t = template(SHAPE, 3);
        let body = threadline_wire::otlp::proto::encode(&placeholder_spans(SHAPE, 3, BASE));
        assert_eq!(t.body(), &body[..]);
        let head = std::str::from_utf8(&t.request()[..t.head_len]).expect("head");
        assert!(head.starts_with("POST /v1/traces HTTP/1.1\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(head.ends_with("\r\n\r\n"));
        // every span has a trace id, a span id, two times and a request id; all but the
        // roots (one in 8) a parent id
        assert_eq!(t.trace_ids.len(), 512);
        assert_eq!(t.span_ids.len(), 512 + 512 - 64);
        assert_eq!(t.times.len(), 1024);
        assert_eq!(t.request_ids.len(), 512);
    }

    #[test]
    fn placeholder_spans_have_the_asked_shape() {
        let spans = placeholder_spans(SHAPE, 0, BASE);
        assert_eq!(spans.len(), 512);
        assert!(spans.iter().all(|s| s.attributes.len() == 10));
        let services: HashSet<_> = spans
            .iter()
            .map(|s| s.resource.service_name.clone())
            .collect();
        assert_eq!(services.len(), 5);
        let traces: HashSet<_> = spans.iter().map(|s| s.trace_id).collect();
        assert_eq!(traces.len(), 64);
        assert!(spans
            .iter()
            .all(|s| s.start_time_unix_nano < s.end_time_unix_nano && s.end_time_unix_nano < BASE));
    }

    #[test]
    fn patched_batches_decode_with_unique_ids_and_consistent_parents() {
        let seed = IdSeed::new(42);
        let mut templates: Vec<Template> = (0..3).map(|v| template(SHAPE, v)).collect();
        let mut trace_ids = HashSet::new();
        let mut span_ids = HashSet::new();
        let mut request_ids = HashSet::new();
        let sends = 40u64;
        for sequence in 0..sends {
            let t = &mut templates[(sequence % 3) as usize];
            let now = BASE + sequence * 1_000_000_000;
            t.patch(seed, sequence, Some(now));
            let spans = threadline_wire::otlp::proto::decode(t.body()).expect("decodes");
            assert_eq!(spans.len(), 512);
            let mut batch_traces = HashSet::new();
            let ids: HashSet<SpanId> = spans.iter().map(|s| s.span_id).collect();
            for span in &spans {
                assert!(span.trace_id.0 != 0 && span.span_id.0 != 0);
                batch_traces.insert(span.trace_id);
                assert!(span_ids.insert(span.span_id), "span id reused");
                if let Some(parent) = span.parent_span_id {
                    assert!(ids.contains(&parent), "parent outside the batch");
                }
                let request_id = span.attribute(REQUEST_ID_KEY).and_then(|v| v.as_str());
                let expected = format!("{:016x}", span.span_id.0);
                assert_eq!(request_id, Some(expected.as_str()));
                assert!(request_ids.insert(expected));
                assert!(span.end_time_unix_nano < now);
                assert!(span.start_time_unix_nano > now - 1_000_000_000);
            }
            assert_eq!(batch_traces.len(), 64);
            for trace in batch_traces {
                assert!(trace_ids.insert(trace), "trace id reused");
            }
            // each trace keeps its shape: one root and the rest under it
            let roots = spans.iter().filter(|s| s.parent_span_id.is_none()).count();
            assert_eq!(roots, 64);
        }
        assert_eq!(span_ids.len() as u64, sends * 512);
        assert_eq!(trace_ids.len() as u64, sends * 64);
    }

    #[test]
    fn patching_keeps_everything_but_ids_and_times() {
        let mut t = template(SHAPE, 1);
        t.patch(IdSeed::new(7), 5, None);
        let placeholder = placeholder_spans(SHAPE, 1, BASE);
        let patched = threadline_wire::otlp::proto::decode(t.body()).expect("decodes");
        assert_eq!(patched.len(), placeholder.len());
        // the encoder groups spans by service, so pair each patched span with a placeholder
        // equal in every field but the ids and the request id
        let mut unmatched: Vec<&SpanData> = placeholder.iter().collect();
        for span in &patched {
            let position = unmatched
                .iter()
                .position(|p| {
                    p.name == span.name
                        && p.resource == span.resource
                        && p.start_time_unix_nano == span.start_time_unix_nano
                        && p.end_time_unix_nano == span.end_time_unix_nano
                        && p.attributes[1..] == span.attributes[1..]
                        && p.kind == span.kind
                        && p.status == span.status
                })
                .expect("a placeholder span like it");
            unmatched.swap_remove(position);
        }
        assert!(unmatched.is_empty());
    }

    #[test]
    fn odd_shapes_still_find_every_slot() {
        for shape in [
            Shape {
                spans_per_batch: 1,
                attributes: 0,
                spans_per_trace: 1,
                services: 1,
            },
            Shape {
                spans_per_batch: 100,
                attributes: 25,
                spans_per_trace: 7,
                services: 3,
            },
        ] {
            let mut t = template(shape, 0);
            t.patch(IdSeed::new(1), 9, Some(BASE + 1));
            let spans = threadline_wire::otlp::proto::decode(t.body()).expect("decodes");
            assert_eq!(spans.len(), shape.spans_per_batch);
            assert!(spans.iter().all(|s| s.attributes.len() == shape.attributes));
            assert!(spans
                .iter()
                .all(|s| s.trace_id.0 > shape.spans_per_batch as u128));
        }
        let zero = Shape {
            spans_per_batch: 0,
            ..SHAPE
        };
        assert!(Template::new(zero, 0, "h", "/", BASE).is_err());
    }
}
