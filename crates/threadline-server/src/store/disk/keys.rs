//! Key layout of a bucket and the index entries' values.
//!
//! Each time bucket has two keyspaces:
//!
//! - data: `trace_id (16, BE) | seq (8, BE)` -> the chunk ([`super::codec`], LZ4-compressed).
//!   A trace's chunks are one prefix; `seq` orders them as they were appended.
//! - index:
//!   - `A | start | seq` -> the chunks of one appended batch (refs and summaries)
//!   - `S | service | 0 | start | seq` -> the batch's chunks that hold spans of the service,
//!     with summaries of those spans only
//!   - `M s | len service`, `M o | len service | len name | kind`, `M r | len service | len
//!     remote`: the services, operations and remote services seen in the bucket
//!   - `C` -> spans stored in the bucket and the last `seq` used (a checkpoint rewritten by
//!     every append)
//!
//! An index entry covers the chunks of one batch (for one service), not one chunk or one
//! span: a batch of 512 spans writes one entry per service it holds plus one, which keeps the
//! writes per span low. `start` is the latest start among the entry's chunks (8 bytes BE) and
//! `seq` the first chunk's, so a reverse range scan lists entries newest first, as Jaeger's
//! Badger store lists spans. A batch whose chunks start more than [`ENTRY_SPREAD`] apart is
//! split into several entries, so that the entries holding chunks that start before `t` all
//! have a key before `t + ENTRY_SPREAD`.
//!
//! An entry's value is, per chunk: `trace_id (16) | seq (8) | start (8) | len | summary`. A
//! summary is `min duration (8) | max duration (8) | bloom filter` over the spans it covers:
//! their names, attribute keys and annotation descriptions (what a bare `TagFilter` key
//! matches) and `key=value` texts of attributes. Tags and span names live only in these
//! filters, not in postings of their own: the index grows with the chunk count whatever the
//! tags' cardinality (a request id per span costs nothing extra) and an append writes no key
//! per tag. The price is that a search by a rare tag or span name checks every summary of
//! the service in the time range (about 100 ns each).

use std::fmt::Write as _;

use threadline::{SpanData, TraceId, Value};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::codec::{put_varint, CorruptChunk, Reader};
use crate::store::TagFilter;

pub(crate) const ALL: u8 = b'A';
pub(crate) const SERVICE: u8 = b'S';
pub(crate) const META_SERVICE: &[u8] = b"Ms";
pub(crate) const META_OPERATION: &[u8] = b"Mo";
pub(crate) const META_REMOTE: &[u8] = b"Mr";
pub(crate) const CHECKPOINT: &[u8] = b"C";

/// The length of `start | seq` at the end of an index key.
pub(crate) const TAIL: usize = 8 + 8;

/// How far apart (nanoseconds) the starts of the chunks of one index entry may be.
pub(crate) const ENTRY_SPREAD: u64 = 60_000_000_000;

/// A name inside a key prefix: its bytes with `0x00` (the separator) replaced by `0x01`.
/// Two names that differ only there share postings; the exact match after loading the trace
/// tells them apart.
pub(crate) fn put_name(key: &mut Vec<u8>, name: &str) {
    key.extend(name.bytes().map(|b| if b == 0 { 1 } else { b }));
    key.push(0);
}

pub(crate) fn service_prefix(service: &str) -> Vec<u8> {
    let mut key = vec![SERVICE];
    put_name(&mut key, service);
    key
}

pub(crate) fn put_tail(key: &mut Vec<u8>, start: u64, seq: u64) {
    key.extend_from_slice(&start.to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
}

/// The start at the end of an index key.
pub(crate) fn parse_tail(key: &[u8]) -> Option<u64> {
    let tail = key.get(key.len().checked_sub(TAIL)?..)?;
    Some(u64::from_be_bytes(tail[..8].try_into().ok()?))
}

/// One chunk in an index entry's value.
pub(crate) struct ChunkRef<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) start: u64,
    pub(crate) summary: &'a [u8],
}

/// Appends a chunk to an index entry's value.
pub(crate) fn put_ref(
    value: &mut Vec<u8>,
    trace_id: TraceId,
    seq: u64,
    start: u64,
    summary: &[u8],
) {
    value.extend_from_slice(&trace_id.0.to_be_bytes());
    value.extend_from_slice(&seq.to_be_bytes());
    value.extend_from_slice(&start.to_be_bytes());
    put_varint(value, summary.len() as u64);
    value.extend_from_slice(summary);
}

/// The chunks of an index entry's value.
pub(crate) fn refs(value: &[u8]) -> impl Iterator<Item = Result<ChunkRef<'_>, CorruptChunk>> {
    let mut r = Reader::new(value);
    let mut failed = false;
    std::iter::from_fn(move || {
        if r.is_empty() || failed {
            return None;
        }
        let mut read = || {
            let trace_id = TraceId(u128::from_be_bytes(r.fixed()?));
            let _seq = r.fixed::<8>()?;
            let start = u64::from_be_bytes(r.fixed()?);
            let summary = r.bytes()?;
            Ok(ChunkRef {
                trace_id,
                start,
                summary,
            })
        };
        let read = read();
        failed = read.is_err();
        Some(read)
    })
}

/// The data key of a batch: every chunk of one append, compressed as one value (so that the
/// compression sees the whole batch, and the store writes one large value per append). Its
/// 9 bytes never start with a 16-byte trace id prefix.
pub(crate) fn batch_key(first_seq: u64) -> [u8; 9] {
    let mut key = [0; 9];
    key[0] = b'B';
    key[1..].copy_from_slice(&first_seq.to_be_bytes());
    key
}

/// What starts a chunk pointer: 4 bytes that no compressed chunk starts with (those start
/// with their decoded size, little-endian and at most 1 GiB, so their fourth byte is at most
/// 0x40), so that a store holding chunks written as values of their own reads them still.
const POINTER: [u8; 4] = [0xff; 4];

/// The value under a chunk's data key: where in its batch (the decoded value under
/// [`batch_key`]) the chunk is.
pub(crate) fn pointer(batch_seq: u64, offset: usize, len: usize) -> Vec<u8> {
    let mut value = Vec::with_capacity(4 + 8 + 10);
    value.extend_from_slice(&POINTER);
    value.extend_from_slice(&batch_seq.to_le_bytes());
    put_varint(&mut value, offset as u64);
    put_varint(&mut value, len as u64);
    value
}

/// A chunk's data value: a pointer into its batch, or the chunk itself (compressed).
pub(crate) enum ChunkValue<'a> {
    /// (batch sequence number, offset, length)
    Pointer(u64, usize, usize),
    Compressed(&'a [u8]),
}

pub(crate) fn chunk_value(value: &[u8]) -> Result<ChunkValue<'_>, CorruptChunk> {
    let Some(rest) = value.strip_prefix(&POINTER) else {
        return Ok(ChunkValue::Compressed(value));
    };
    let corrupt = || CorruptChunk("bad chunk pointer");
    let batch_seq = rest
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(corrupt)?;
    let mut reader = Reader::new(&rest[8..]);
    let offset = usize::try_from(reader.varint()?).map_err(|_| corrupt())?;
    let len = usize::try_from(reader.varint()?).map_err(|_| corrupt())?;
    Ok(ChunkValue::Pointer(batch_seq, offset, len))
}

pub(crate) fn data_key(trace_id: TraceId, seq: u64) -> [u8; 24] {
    let mut key = [0; 24];
    key[..16].copy_from_slice(&trace_id.0.to_be_bytes());
    key[16..].copy_from_slice(&seq.to_be_bytes());
    key
}

fn put_len_str(key: &mut Vec<u8>, s: &str) {
    put_varint(key, s.len() as u64);
    key.extend_from_slice(s.as_bytes());
}

pub(crate) fn meta_service_key(service: &str) -> Vec<u8> {
    let mut key = META_SERVICE.to_vec();
    put_len_str(&mut key, service);
    key
}

pub(crate) fn meta_operation_key(service: &str, name: &str, kind: u8) -> Vec<u8> {
    let mut key = META_OPERATION.to_vec();
    put_len_str(&mut key, service);
    put_len_str(&mut key, name);
    key.push(kind);
    key
}

pub(crate) fn meta_remote_key(service: &str, remote: &str) -> Vec<u8> {
    let mut key = META_REMOTE.to_vec();
    put_len_str(&mut key, service);
    put_len_str(&mut key, remote);
    key
}

/// The strings of a meta key after its two-byte prefix, and the kind byte of an operation.
pub(crate) fn parse_meta(key: &[u8]) -> Result<(String, String, u8), CorruptChunk> {
    let mut r = Reader::new(key.get(2..).unwrap_or_default());
    let first = r.str()?.to_owned();
    if r.is_empty() {
        return Ok((first, String::new(), 0));
    }
    let second = r.str()?.to_owned();
    let kind = if r.is_empty() { 0 } else { r.fixed::<1>()?[0] };
    Ok((first, second, kind))
}

const SEED_KEY: u64 = 0x006b_6579;
const SEED_NAME: u64 = 0x6e61_6d65;

/// The hashes a span contributes to a summary, appended to `out`: its name, each attribute
/// key and annotation description, each attribute's `key=value` (the value hashed with the
/// key's hash as seed, so no text is assembled). `text` is a reusable buffer for values that
/// are not strings.
pub(crate) fn span_hashes(span: &SpanData, text: &mut String, out: &mut Vec<u64>) {
    out.push(name_hash(&span.name));
    for kv in &span.attributes {
        let key = xxh3_64_with_seed(kv.key.as_bytes(), SEED_KEY);
        out.push(key);
        // the text `Value`'s Display gives, which is what a query's value is compared with
        let value = match &kv.value {
            Value::Str(s) => s,
            Value::Bool(true) => "true",
            Value::Bool(false) => "false",
            Value::I64(i) => {
                text.clear();
                text.push_str(itoa::Buffer::new().format(*i));
                text.as_str()
            }
            other => {
                text.clear();
                let _ = write!(text, "{other}");
                text.as_str()
            }
        };
        out.push(xxh3_64_with_seed(value.as_bytes(), key));
    }
    for annotation in &span.annotations {
        out.push(xxh3_64_with_seed(
            annotation.description.as_bytes(),
            SEED_KEY,
        ));
    }
    for (key, value) in crate::store::derived_tags(span).into_iter().flatten() {
        let key = xxh3_64_with_seed(key.as_bytes(), SEED_KEY);
        out.push(key);
        out.push(xxh3_64_with_seed(value.as_bytes(), key));
    }
}

/// The hash a query condition looks for in a summary.
pub(crate) fn tag_hash(tag: &TagFilter) -> u64 {
    let key = xxh3_64_with_seed(tag.key.as_bytes(), SEED_KEY);
    match &tag.value {
        Some(value) => xxh3_64_with_seed(value.as_bytes(), key),
        None => key,
    }
}

pub(crate) fn name_hash(name: &str) -> u64 {
    xxh3_64_with_seed(name.as_bytes(), SEED_NAME)
}

const PROBES: u32 = 4;

/// Appends the summary of spans with durations in `[min, max]` and these item hashes
/// (`count` of them, repeats included) to `out`.
pub(crate) fn put_summary<'a>(
    out: &mut Vec<u8>,
    min: u64,
    max: u64,
    count: usize,
    hashes: impl Iterator<Item = &'a u64>,
) {
    out.extend_from_slice(&min.to_le_bytes());
    out.extend_from_slice(&max.to_le_bytes());
    // 4 bits per item, repeats included (a chunk's spans share most keys and many values, so
    // that is 6 or more per distinct item: about 5% false positives with 4 probes, each costing
    // one trace read), a power of two of 8..1024 bytes
    let bits = (count * 4).next_power_of_two().clamp(64, 8192);
    let start = out.len();
    out.resize(start + bits / 8, 0);
    let filter = &mut out[start..];
    for &hash in hashes {
        for bit in probes(hash, bits) {
            filter[bit / 8] |= 1 << (bit % 8);
        }
    }
}

fn probes(hash: u64, bits: usize) -> impl Iterator<Item = usize> {
    let h1 = hash;
    let h2 = hash.rotate_left(32) | 1;
    (0..PROBES).map(move |i| (h1.wrapping_add(u64::from(i).wrapping_mul(h2)) as usize) & (bits - 1))
}

/// A summary read from an index value.
pub(crate) struct Summary<'a> {
    pub(crate) min_duration: u64,
    pub(crate) max_duration: u64,
    filter: &'a [u8],
}

impl<'a> Summary<'a> {
    pub(crate) fn parse(value: &'a [u8]) -> Option<Self> {
        let min_duration = u64::from_le_bytes(value.get(..8)?.try_into().ok()?);
        let max_duration = u64::from_le_bytes(value.get(8..16)?.try_into().ok()?);
        let filter = value.get(16..)?;
        if !filter.len().is_power_of_two() {
            return None;
        }
        Some(Summary {
            min_duration,
            max_duration,
            filter,
        })
    }

    /// Whether an item with this hash may be among the summarized spans' (false positives
    /// possible, false negatives not).
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        let bits = self.filter.len() * 8;
        probes(hash, bits).all(|bit| self.filter[bit / 8] & (1 << (bit % 8)) != 0)
    }

    /// Whether some summarized span may last within `[min, max]`.
    pub(crate) fn may_last(&self, min: u64, max: u64) -> bool {
        self.max_duration >= min && self.min_duration <= max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use threadline::{KeyValue, SpanId};

    #[test]
    fn a_summary_contains_what_its_spans_carry() {
        let mut span = SpanData::new(TraceId(1), SpanId(1), "get");
        span.attributes.push(KeyValue::new("http.method", "GET"));
        span.attributes
            .push(KeyValue::new("http.status_code", 200i64));
        let mut hashes = Vec::new();
        span_hashes(&span, &mut String::new(), &mut hashes);
        let mut value = Vec::new();
        put_summary(&mut value, 5, 9, hashes.len(), hashes.iter());
        let summary = Summary::parse(&value).unwrap();
        let tags =
            TagFilter::parse_zipkin("http.method=GET and http.status_code=200 and http.method");
        assert!(tags.iter().all(|t| summary.may_contain(tag_hash(t))));
        assert!(summary.may_contain(name_hash("get")));
        // with 64 bits and 6 items a miss is certain for most other items: check a few
        let misses = (0..20)
            .filter(|i| !summary.may_contain(name_hash(&format!("other {i}"))))
            .count();
        assert!(misses > 10, "{misses}");
        assert!(summary.may_last(9, 100) && summary.may_last(0, 5) && !summary.may_last(10, 20));
    }

    #[test]
    fn tails_refs_and_meta_keys_parse_back() {
        let mut key = service_prefix("web\0x");
        assert_eq!(key, b"Sweb\x01x\0");
        put_tail(&mut key, 7, 3);
        assert_eq!(parse_tail(&key), Some(7));
        let mut value = Vec::new();
        put_ref(&mut value, TraceId(9), 1, 5, b"ab");
        put_ref(&mut value, TraceId(10), 2, 6, b"");
        let parsed: Vec<_> = refs(&value)
            .map(|r| r.map(|r| (r.trace_id, r.start, r.summary.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            parsed,
            [
                (TraceId(9), 5, b"ab".to_vec()),
                (TraceId(10), 6, Vec::new())
            ]
        );
        assert!(refs(&value[..value.len() - 1]).any(|r| r.is_err()));
        let parsed = parse_meta(&meta_operation_key("web", "get /", 2)).unwrap();
        assert_eq!(parsed, ("web".to_string(), "get /".to_string(), 2));
        let parsed = parse_meta(&meta_service_key("db")).unwrap();
        assert_eq!(parsed.0, "db");
    }
}
