//! A direct reader of OTLP `Span` messages: protobuf bytes to [`SpanData`] without building
//! `opentelemetry-proto`'s message first.
//!
//! Receiving spends most of its time decoding, and most spans are ids, a name, times and
//! attributes with scalar values. This reader handles exactly that and converts through the
//! same mapping as every other path ([`model::span_from_fields`]); events, links and the
//! status, rarer, go through prost. Anything else it is unsure of (array or key-value list
//! values, a message field given twice, invalid UTF-8, a wire type that does not match,
//! deprecated groups, a truncated field) makes it answer `None`, and the caller decodes that
//! span with prost as before, so both paths agree on every outcome and every error message.

use std::sync::Arc;

use opentelemetry_proto::tonic::trace::v1::{span, Status as PbStatus};
use prost::Message as _;
use threadline::{KeyValue, Resource, SpanData, Str, Value};

use super::model::{self, Attributes, SpanFields, Style};
use crate::Problem;

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

/// Reads protobuf fields from a message's bytes; every method answers `None` on anything
/// unusual, leaving the judgement to prost.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        // nine bytes hold 63 bits; longer varints are left to prost's own rules
        for shift in (0..63).step_by(7) {
            let byte = *self.bytes.get(self.pos)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// The next field's number and wire type; `Some(None)` at the end of the message.
    fn key(&mut self) -> Option<Option<(u64, u8)>> {
        if self.pos == self.bytes.len() {
            return Some(None);
        }
        let key = self.varint()?;
        let (number, wire_type) = (key >> 3, (key & 7) as u8);
        if number == 0 || number > u64::from(u32::MAX >> 3) {
            return None;
        }
        Some(Some((number, wire_type)))
    }

    fn len_delimited(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.varint()?).ok()?;
        let end = self.pos.checked_add(len)?;
        let bytes = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }

    fn fixed64(&mut self) -> Option<u64> {
        let bytes = self.bytes.get(self.pos..self.pos + 8)?;
        self.pos += 8;
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    fn fixed32(&mut self) -> Option<u32> {
        let bytes = self.bytes.get(self.pos..self.pos + 4)?;
        self.pos += 4;
        Some(u32::from_le_bytes(bytes.try_into().ok()?))
    }

    /// Skips an unknown field, as prost does; groups are left to prost.
    fn skip(&mut self, wire_type: u8) -> Option<()> {
        match wire_type {
            VARINT => self.varint().map(drop),
            FIXED64 => self.fixed64().map(drop),
            LEN => self.len_delimited().map(drop),
            FIXED32 => self.fixed32().map(drop),
            _ => None,
        }
    }
}

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

/// Attribute positions that keep hints in [`Scratch`].
const HINTS: usize = 16;

/// What [`span`] reuses from one span to the next: the vector the attributes grow in (they
/// are then moved into one of their exact size), and hints. Spans from one instrumentation
/// carry their attributes in the same order, often with the same values, so each position
/// remembers the interned key and string value last read there, and the last span name:
/// a string equal to its hint is taken without a lookup in the interned set.
#[derive(Default)]
pub(crate) struct Scratch {
    attributes: Vec<KeyValue>,
    keys: [Option<&'static str>; HINTS],
    values: [Option<&'static str>; HINTS],
    name: Option<&'static str>,
}

/// `bytes` as an interned string when `hint` holds them, else as [`crate::intern::intern`]
/// gives them, which becomes the hint when interned.
fn hinted(hint: Option<&mut Option<&'static str>>, bytes: &[u8]) -> Option<Str> {
    let Some(hint) = hint else {
        return crate::intern::intern(bytes);
    };
    if let Some(text) = *hint {
        if same_bytes(text.as_bytes(), bytes) {
            return Some(Str::Borrowed(text));
        }
    }
    let text = crate::intern::intern(bytes)?;
    if let Str::Borrowed(interned) = text {
        *hint = Some(interned);
    }
    Some(text)
}

/// `a == b`, compared a word at a time in line: the strings compared here are short, and
/// most often equal, where a call to `memcmp` costs more than the comparison.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    let n = a.len();
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    // whole words from the start, then the last 8 bytes (overlapping the last word)
    (0..n / 8).all(|i| word(a, i * 8) == word(b, i * 8)) && word(a, n - 8) == word(b, n - 8)
}

/// One span read directly, or `None` when prost must read it (see the module's rustdoc).
pub(crate) fn span(
    bytes: &[u8],
    resource: &Arc<Resource>,
    scope: &Str,
    scratch: &mut Scratch,
) -> Option<Result<SpanData, Problem>> {
    let mut fields = SpanFields {
        trace_id: &[],
        span_id: &[],
        trace_state: "",
        parent_span_id: &[],
        flags: 0,
        name: Str::Borrowed(""),
        kind: 0,
        start_time_unix_nano: 0,
        end_time_unix_nano: 0,
        attributes: Attributes::Converted(Vec::new()),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: None,
    };
    let mut name: &[u8] = &[];
    scratch.attributes.clear();
    let mut status: Option<&[u8]> = None;
    let mut reader = Reader::new(bytes);
    while let Some((number, wire_type)) = reader.key()? {
        let expected = match number {
            1..=5 | 9 | 11 | 13 | 15 => LEN,
            6 | 10 | 12 | 14 => VARINT,
            7 | 8 => FIXED64,
            16 => FIXED32,
            _ => {
                reader.skip(wire_type)?;
                continue;
            }
        };
        if wire_type != expected {
            return None;
        }
        match number {
            1 => fields.trace_id = reader.len_delimited()?,
            2 => fields.span_id = reader.len_delimited()?,
            3 => fields.trace_state = text(reader.len_delimited()?)?,
            4 => fields.parent_span_id = reader.len_delimited()?,
            5 => name = reader.len_delimited()?,
            6 => fields.kind = reader.varint()? as i32,
            7 => fields.start_time_unix_nano = reader.fixed64()?,
            8 => fields.end_time_unix_nano = reader.fixed64()?,
            9 => attribute(reader.len_delimited()?, scratch)?,
            10 => fields.dropped_attributes_count = reader.varint()? as u32,
            11 => fields
                .events
                .push(span::Event::decode(reader.len_delimited()?).ok()?),
            12 => fields.dropped_events_count = reader.varint()? as u32,
            13 => fields
                .links
                .push(span::Link::decode(reader.len_delimited()?).ok()?),
            14 => fields.dropped_links_count = reader.varint()? as u32,
            15 => {
                // a message given twice is merged by prost: leave that to it
                if status.replace(reader.len_delimited()?).is_some() {
                    return None;
                }
            }
            _ => fields.flags = reader.fixed32()?,
        }
    }
    fields.name = hinted(Some(&mut scratch.name), name)?;
    if let Some(status) = status {
        fields.status = Some(PbStatus::decode(status).ok()?);
    }
    let mut exact = Vec::with_capacity(scratch.attributes.len());
    exact.append(&mut scratch.attributes);
    fields.attributes = Attributes::Converted(exact);
    Some(model::span_from_fields(
        fields,
        resource,
        scope,
        Style::Proto,
    ))
}

/// Reads one `KeyValue` into `out` with the mapping's rules: a repeated key keeps its first
/// position and its last value, and a key without a value is left out.
fn attribute(bytes: &[u8], scratch: &mut Scratch) -> Option<()> {
    let mut reader = Reader::new(bytes);
    let mut key: &[u8] = &[];
    let mut value: Option<&[u8]> = None;
    while let Some((number, wire_type)) = reader.key()? {
        match number {
            1 | 2 if wire_type != LEN => return None,
            1 => key = reader.len_delimited()?,
            2 => {
                if value.replace(reader.len_delimited()?).is_some() {
                    return None;
                }
            }
            _ => reader.skip(wire_type)?,
        }
    }
    let out = &mut scratch.attributes;
    let position = out.len();
    let key = hinted(scratch.keys.get_mut(position), key)?;
    let Some(value) = any_value(value.unwrap_or(&[]))? else {
        // validated like the prost path does, then left out
        return Some(());
    };
    let value = match value {
        Scalar::Str(bytes) => Value::Str(hinted(scratch.values.get_mut(position), bytes)?),
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::I64(i) => Value::I64(i),
        Scalar::F64(f) => Value::F64(f),
        Scalar::Bytes(bytes) => Value::Bytes(bytes.to_vec()),
    };
    match out
        .iter_mut()
        .find(|existing| same_key(&existing.key, &key))
    {
        Some(existing) => existing.value = value,
        None => out.push(KeyValue::new(key, value)),
    }
    Some(())
}

/// Whether two keys read by [`attribute`] are equal. Both are interned or owned: two
/// interned ones are the same string exactly when they are the same copy, which spares
/// comparing the bytes of every pair of keys of a span.
fn same_key(a: &Str, b: &Str) -> bool {
    match (a, b) {
        (Str::Borrowed(a), Str::Borrowed(b)) => std::ptr::eq(*a, *b),
        _ => a == b,
    }
}

/// A scalar `AnyValue` as read, converted to a [`Value`] only once it is known to be kept
/// (building the value in place rather than moving it through an `Option` is measurably
/// cheaper).
enum Scalar<'a> {
    Str(&'a [u8]),
    Bool(bool),
    I64(i64),
    F64(f64),
    Bytes(&'a [u8]),
}

/// A scalar `AnyValue`; `Some(None)` when it holds no value. Arrays, key-value lists, string
/// indexes and a value given twice (whose members prost checks one by one) are left to prost.
fn any_value(bytes: &[u8]) -> Option<Option<Scalar<'_>>> {
    let mut reader = Reader::new(bytes);
    let mut value = None;
    while let Some((number, wire_type)) = reader.key()? {
        let scalar = match (number, wire_type) {
            (1, LEN) => Scalar::Str(reader.len_delimited()?),
            (2, VARINT) => Scalar::Bool(reader.varint()? != 0),
            (3, VARINT) => Scalar::I64(reader.varint()? as i64),
            (4, FIXED64) => Scalar::F64(f64::from_bits(reader.fixed64()?)),
            (7, LEN) => Scalar::Bytes(reader.len_delimited()?),
            (1..=8, _) => return None,
            (_, wire_type) => {
                reader.skip(wire_type)?;
                continue;
            }
        };
        if value.replace(scalar).is_some() {
            return None;
        }
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::same_bytes;

    #[test]
    fn same_bytes_is_equality_whatever_the_length_and_where_bytes_differ() {
        for len in 0..40_usize {
            let a: Vec<u8> = (0..len as u8).collect();
            assert!(same_bytes(&a, &a.clone()));
            assert!(!same_bytes(&a, &a[..len.saturating_sub(1)]) || len == 0);
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "{len} {at}");
            }
        }
    }
}
