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
//! An entry's key ends with the format of its value, [`FORMAT`]; keys without that byte
//! (written by earlier versions) are format 1. An entry's value is, per chunk:
//!
//! - format 2: `trace_id (16) | latest - start | len | summary`, a summary being `min duration
//!   | max - min | filter`, varints but for the trace id and the filter: a blocked bloom filter
//!   of 64-bit words (little-endian), each item setting 4 bits of one word;
//! - format 1: `trace_id (16) | seq (8) | start (8) | len | summary`, a summary being `min
//!   duration (8) | max duration (8) | filter`, a bloom filter of a power of two of bits, each
//!   item setting 4 bits anywhere in it.
//!
//! A summary's filter holds the items of the spans it covers: their names, attribute keys and
//! annotation descriptions (what a bare `TagFilter` key matches) and `key=value` texts of
//! attributes. Tags and span names live only in these filters, not in postings of their own:
//! the index grows with the chunk count whatever the tags' cardinality (a request id per span
//! costs nothing extra) and an append writes no key per tag. The price is that a search by a
//! rare tag or span name checks every summary of the service in the time range (tens of
//! nanoseconds each).

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

/// The format of the index entries written now: the last byte of their keys.
pub(crate) const FORMAT: u8 = 2;

/// The length of `start | seq | format` at the end of an index key.
pub(crate) const TAIL: usize = 8 + 8 + 1;

/// Bits per item (repeats included) of the filters of service entries, and of entries of
/// all services. A chunk's spans share most keys and many values, so 5 is 8 or more per
/// distinct item: about 2% false positives, each costing one trace read. Entries of all
/// services serve only searches without a service, and take fewer (about 8%).
pub(crate) const SERVICE_FILTER_BITS: usize = 5;
pub(crate) const ALL_FILTER_BITS: usize = 3;

/// The most 64-bit words in a filter.
const MAX_FILTER_WORDS: usize = 128;

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

/// Appends `start | seq | format` to an index key.
pub(crate) fn put_tail(key: &mut Vec<u8>, start: u64, seq: u64) {
    key.extend_from_slice(&start.to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key.push(FORMAT);
}

/// The start and the value's format at the end of an index key: `tail` is what follows the
/// key's prefix.
pub(crate) fn parse_tail(tail: &[u8]) -> Option<(u64, u8)> {
    let start = u64::from_be_bytes(tail.get(..8)?.try_into().ok()?);
    match tail.len() {
        16 => Some((start, 1)),
        17 => Some((start, tail[16])),
        _ => None,
    }
}

/// One chunk in an index entry's value.
pub(crate) struct ChunkRef<'a> {
    pub(crate) trace_id: TraceId,
    pub(crate) start: u64,
    pub(crate) summary: Summary<'a>,
}

/// Appends a chunk to an index entry's value (of the current format) whose key's start is
/// `latest`.
pub(crate) fn put_ref(
    value: &mut Vec<u8>,
    trace_id: TraceId,
    latest: u64,
    start: u64,
    summary: &[u8],
) {
    value.extend_from_slice(&trace_id.0.to_be_bytes());
    put_varint(value, latest.saturating_sub(start));
    put_varint(value, summary.len() as u64);
    value.extend_from_slice(summary);
}

/// The chunks of an index entry's value, of `format`, whose key's start is `latest`.
pub(crate) fn refs(
    value: &[u8],
    format: u8,
    latest: u64,
) -> impl Iterator<Item = Result<ChunkRef<'_>, CorruptChunk>> {
    let mut r = Reader::new(value);
    let mut failed = false;
    std::iter::from_fn(move || {
        if r.is_empty() || failed {
            return None;
        }
        let mut read = || {
            let trace_id = TraceId(u128::from_be_bytes(r.fixed()?));
            let (start, summary) = match format {
                1 => {
                    let _seq = r.fixed::<8>()?;
                    let start = u64::from_be_bytes(r.fixed()?);
                    (start, Summary::parse_bits(r.bytes()?))
                }
                2 => {
                    let start = latest
                        .checked_sub(r.varint()?)
                        .ok_or(CorruptChunk("chunk start after its entry's"))?;
                    (start, Summary::parse_words(r.bytes()?))
                }
                _ => return Err(CorruptChunk("index entry of an unknown format")),
            };
            Ok(ChunkRef {
                trace_id,
                start,
                summary: summary.ok_or(CorruptChunk("bad chunk summary"))?,
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

/// Positions that keep a key's hash in [`KeyHashes`].
const KEY_HASHES: usize = 16;

/// The hash of the key last met at each attribute position, by the key's address: spans
/// from one instrumentation carry the same keys in the same order, and decoded keys are
/// shared strings. Only valid while the spans it met are alive (an address is that of one
/// string only as long as that string lives): keep one per batch.
#[derive(Default)]
pub(crate) struct KeyHashes([(usize, usize, u64); KEY_HASHES]);

impl KeyHashes {
    fn of(&mut self, position: usize, key: &str) -> u64 {
        let Some(slot) = self.0.get_mut(position) else {
            return xxh3_64_with_seed(key.as_bytes(), SEED_KEY);
        };
        // two strings alive at one address with one length are the same bytes
        let address = (key.as_ptr() as usize, key.len());
        if (slot.0, slot.1) != address {
            *slot = (
                address.0,
                address.1,
                xxh3_64_with_seed(key.as_bytes(), SEED_KEY),
            );
        }
        slot.2
    }
}

/// The hashes a span contributes to a summary, appended to `out`: its name, each attribute
/// key and annotation description, each attribute's `key=value` (the value hashed with the
/// key's hash as seed, so no text is assembled). `text` is a reusable buffer for values that
/// are not strings.
pub(crate) fn span_hashes(
    span: &SpanData,
    keys: &mut KeyHashes,
    text: &mut String,
    out: &mut Vec<u64>,
) {
    out.push(name_hash(&span.name));
    for (position, kv) in span.attributes.iter().enumerate() {
        let key = keys.of(position, &kv.key);
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
/// (`count` of them, repeats included) to `out`, with a filter of `bits_per_item`.
pub(crate) fn put_summary<'a>(
    out: &mut Vec<u8>,
    min: u64,
    max: u64,
    count: usize,
    bits_per_item: usize,
    hashes: impl Iterator<Item = &'a u64>,
) {
    put_varint(out, min);
    put_varint(out, max.saturating_sub(min));
    let words = (count * bits_per_item)
        .div_ceil(64)
        .clamp(1, MAX_FILTER_WORDS);
    let start = out.len();
    out.resize(start + words * 8, 0);
    let filter = &mut out[start..];
    for &hash in hashes {
        let (word, mask) = block(hash, words);
        let slot: &mut [u8; 8] = (&mut filter[word * 8..word * 8 + 8])
            .try_into()
            .expect("8 bytes");
        *slot = (u64::from_le_bytes(*slot) | mask).to_le_bytes();
    }
}

/// The word of a filter of `words` words that an item goes to (from the hash's low half),
/// and the bits it sets there (4 of 64, from the high half).
fn block(hash: u64, words: usize) -> (usize, u64) {
    let word = ((hash & 0xffff_ffff) * words as u64) >> 32;
    let mask = (0..PROBES).fold(0, |mask, i| mask | 1 << ((hash >> (32 + 6 * i)) & 63));
    (word as usize, mask)
}

/// The bit positions of an item in a format-1 filter of `bits` bits.
fn probes(hash: u64, bits: usize) -> impl Iterator<Item = usize> {
    let h1 = hash;
    let h2 = hash.rotate_left(32) | 1;
    (0..PROBES).map(move |i| (h1.wrapping_add(u64::from(i).wrapping_mul(h2)) as usize) & (bits - 1))
}

/// A summary read from an index value.
pub(crate) struct Summary<'a> {
    pub(crate) min_duration: u64,
    pub(crate) max_duration: u64,
    filter: Filter<'a>,
}

enum Filter<'a> {
    /// format 1: a power of two of bits
    Bits(&'a [u8]),
    /// format 2: 64-bit words
    Words(&'a [u8]),
}

impl<'a> Summary<'a> {
    /// A format-2 summary.
    fn parse_words(value: &'a [u8]) -> Option<Self> {
        let mut r = Reader::new(value);
        let min_duration = r.varint().ok()?;
        let max_duration = min_duration.checked_add(r.varint().ok()?)?;
        let filter = r.rest();
        if filter.is_empty() || !filter.len().is_multiple_of(8) {
            return None;
        }
        Some(Summary {
            min_duration,
            max_duration,
            filter: Filter::Words(filter),
        })
    }

    /// A format-1 summary.
    fn parse_bits(value: &'a [u8]) -> Option<Self> {
        let min_duration = u64::from_le_bytes(value.get(..8)?.try_into().ok()?);
        let max_duration = u64::from_le_bytes(value.get(8..16)?.try_into().ok()?);
        let filter = value.get(16..)?;
        if !filter.len().is_power_of_two() {
            return None;
        }
        Some(Summary {
            min_duration,
            max_duration,
            filter: Filter::Bits(filter),
        })
    }

    /// Whether an item with this hash may be among the summarized spans' (false positives
    /// possible, false negatives not).
    pub(crate) fn may_contain(&self, hash: u64) -> bool {
        match self.filter {
            Filter::Words(filter) => {
                let (word, mask) = block(hash, filter.len() / 8);
                let word =
                    u64::from_le_bytes(filter[word * 8..word * 8 + 8].try_into().expect("8 bytes"));
                word & mask == mask
            }
            Filter::Bits(filter) => {
                let bits = filter.len() * 8;
                probes(hash, bits).all(|bit| filter[bit / 8] & (1 << (bit % 8)) != 0)
            }
        }
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

    fn summary_of(hashes: &[u64], bits_per_item: usize) -> Vec<u8> {
        let mut value = Vec::new();
        put_summary(&mut value, 5, 9, hashes.len(), bits_per_item, hashes.iter());
        value
    }

    #[test]
    fn a_summary_contains_what_its_spans_carry() {
        let mut span = SpanData::new(TraceId(1), SpanId(1), "get");
        span.attributes.push(KeyValue::new("http.method", "GET"));
        span.attributes
            .push(KeyValue::new("http.status_code", 200i64));
        let mut hashes = Vec::new();
        span_hashes(
            &span,
            &mut KeyHashes::default(),
            &mut String::new(),
            &mut hashes,
        );
        let value = summary_of(&hashes, SERVICE_FILTER_BITS);
        let summary = Summary::parse_words(&value).unwrap();
        let tags =
            TagFilter::parse_zipkin("http.method=GET and http.status_code=200 and http.method");
        assert!(tags.iter().all(|t| summary.may_contain(tag_hash(t))));
        assert!(summary.may_contain(name_hash("get")));
        // one word with at most 24 of its 64 bits set: most other items miss
        let misses = (0..20)
            .filter(|i| !summary.may_contain(name_hash(&format!("other {i}"))))
            .count();
        assert!(misses > 10, "{misses}");
        assert!(summary.may_last(9, 100) && summary.may_last(0, 5) && !summary.may_last(10, 20));
    }

    #[test]
    fn key_hashes_remembered_by_position_are_those_of_the_keys_there() {
        // keys move between positions, some shared (one copy for all spans), some owned
        let shared = ["http.method", "http.route", "user.id"];
        let spans: Vec<SpanData> = (0..12_usize)
            .map(|i| {
                let mut span = SpanData::new(TraceId(1), SpanId(i as u64 + 1), "op");
                for j in 0..3 {
                    span.attributes
                        .push(KeyValue::new(shared[(i / 2 + j) % 3], "v"));
                }
                span.attributes
                    .insert(i % 4, KeyValue::new(format!("owned.{}", i % 2), "v"));
                span
            })
            .collect();
        let mut remembered = KeyHashes::default();
        for span in &spans {
            let (mut once, mut fresh) = (Vec::new(), Vec::new());
            span_hashes(span, &mut remembered, &mut String::new(), &mut once);
            span_hashes(
                span,
                &mut KeyHashes::default(),
                &mut String::new(),
                &mut fresh,
            );
            assert_eq!(once, fresh);
        }
    }

    #[test]
    fn filters_answer_false_positives_at_the_rate_their_size_is_for() {
        // a chunk of 8 spans: 100 distinct items, 216 with repeats
        let items: Vec<u64> = (0..216)
            .map(|i| name_hash(&format!("item {}", i % 100)))
            .collect();
        for (bits, most) in [(SERVICE_FILTER_BITS, 30), (ALL_FILTER_BITS, 100)] {
            let value = summary_of(&items, bits);
            let summary = Summary::parse_words(&value).unwrap();
            assert!(items.iter().all(|h| summary.may_contain(*h)));
            let positives = (0..1000)
                .filter(|i| summary.may_contain(name_hash(&format!("absent {i}"))))
                .count();
            assert!(
                positives <= most,
                "{bits} bits per item: {positives} of 1000"
            );
        }
    }

    #[test]
    fn tails_refs_and_meta_keys_parse_back() {
        let mut key = service_prefix("web\0x");
        assert_eq!(key, b"Sweb\x01x\0");
        let prefix = key.len();
        put_tail(&mut key, 7, 3);
        assert_eq!(parse_tail(&key[prefix..]), Some((7, FORMAT)));
        // keys written before the format byte existed
        assert_eq!(parse_tail(&key[prefix..key.len() - 1]), Some((7, 1)));
        assert_eq!(parse_tail(&key[prefix + 2..]), None);
        let summary = summary_of(&[name_hash("a")], SERVICE_FILTER_BITS);
        let mut value = Vec::new();
        put_ref(&mut value, TraceId(9), 8, 5, &summary);
        put_ref(&mut value, TraceId(10), 8, 8, &summary);
        let parsed = |value: &[u8], format, latest| {
            refs(value, format, latest)
                .map(|r| {
                    r.map(|r| {
                        (
                            r.trace_id,
                            r.start,
                            r.summary.min_duration,
                            r.summary.max_duration,
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        assert_eq!(
            parsed(&value, FORMAT, 8).unwrap(),
            [(TraceId(9), 5, 5, 9), (TraceId(10), 8, 5, 9)]
        );
        assert!(parsed(&value[..value.len() - 1], FORMAT, 8).is_err());
        // a chunk starting after its entry's latest start
        assert!(parsed(&value, FORMAT, 2).is_err());
        assert!(parsed(&value, FORMAT + 1, 8).is_err());
        // an entry as earlier versions wrote it: fixed-width fields and a power-of-two filter
        let mut old = Vec::new();
        old.extend_from_slice(&TraceId(11).0.to_be_bytes());
        old.extend_from_slice(&4_u64.to_be_bytes());
        old.extend_from_slice(&6_u64.to_be_bytes());
        old.push(16 + 8);
        old.extend_from_slice(&2_u64.to_le_bytes());
        old.extend_from_slice(&3_u64.to_le_bytes());
        let mut filter = [0_u8; 8];
        for bit in probes(name_hash("a"), 64) {
            filter[bit / 8] |= 1 << (bit % 8);
        }
        old.extend_from_slice(&filter);
        let chunk = refs(&old, 1, 99).next().unwrap().unwrap();
        assert_eq!((chunk.trace_id, chunk.start), (TraceId(11), 6));
        assert!(chunk.summary.may_last(3, 3) && !chunk.summary.may_last(4, 5));
        assert!(chunk.summary.may_contain(name_hash("a")));
        assert!(parsed(&old[..old.len() - 1], 1, 99).is_err());
        let parsed = parse_meta(&meta_operation_key("web", "get /", 2)).unwrap();
        assert_eq!(parsed, ("web".to_string(), "get /".to_string(), 2));
        let parsed = parse_meta(&meta_service_key("db")).unwrap();
        assert_eq!(parsed.0, "db");
    }
}
