//! Trace and span identifiers, and the thread-local generator that makes them.

use std::cell::Cell;
use std::fmt;
use std::str::FromStr;

/// Why a trace or span id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseIdError {
    /// The text does not have the required number of hex digits.
    #[error("expected {expected} hex digits, found {found} characters")]
    Length {
        /// Required number of hex digits.
        expected: usize,
        /// Number of characters found.
        found: usize,
    },
    /// The text contains a character that is not a hex digit.
    #[error("invalid hex digit {found:?} at position {position}")]
    Digit {
        /// The offending character.
        found: char,
        /// Its position in the text.
        position: usize,
    },
    /// The id is all zeros, which the W3C and OpenTelemetry specifications reserve as invalid.
    #[error("an all-zero id is invalid")]
    Zero,
}

fn parse_hex<const N: usize>(text: &str) -> Result<[u8; N], ParseIdError> {
    let bytes = text.as_bytes();
    if bytes.len() != N * 2 {
        return Err(ParseIdError::Length {
            expected: N * 2,
            found: text.chars().count(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let hi = hex_value(pair[0]).ok_or_else(|| digit_error(text, i * 2))?;
        let lo = hex_value(pair[1]).ok_or_else(|| digit_error(text, i * 2 + 1))?;
        out[i] = (hi << 4) | lo;
    }
    if out.iter().all(|&b| b == 0) {
        return Err(ParseIdError::Zero);
    }
    Ok(out)
}

fn digit_error(text: &str, position: usize) -> ParseIdError {
    let found = text
        .char_indices()
        .take_while(|(start, _)| *start <= position)
        .last()
        .map_or('\0', |(_, c)| c);
    ParseIdError::Digit { found, position }
}

pub(crate) fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A 16-byte trace identifier, shown as 32 lowercase hex digits.
///
/// # Examples
///
/// ```
/// use threadline::TraceId;
/// let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
/// assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!("00000000000000000000000000000000".parse::<TraceId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId(pub u128);

impl TraceId {
    /// The invalid, all-zero trace id.
    pub const INVALID: TraceId = TraceId(0);

    /// Builds a trace id from its 16 big-endian bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        TraceId(u128::from_be_bytes(bytes))
    }

    /// The 16 big-endian bytes of this id.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// Whether this id is not the all-zero id.
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// A new random, non-zero trace id from this thread's generator.
    pub fn random() -> Self {
        let hi = next_random();
        let lo = next_random();
        TraceId(((hi as u128) << 64) | lo as u128)
    }

    /// Parses 32 hex digits (either case).
    ///
    /// # Errors
    ///
    /// [`ParseIdError`] when the text is not 32 hex digits or is all zeros.
    pub fn from_hex(text: &str) -> Result<Self, ParseIdError> {
        parse_hex::<16>(text).map(TraceId::from_bytes)
    }
}

impl FromStr for TraceId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TraceId::from_hex(s)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({:032x})", self.0)
    }
}

/// An 8-byte span identifier, shown as 16 lowercase hex digits.
///
/// # Examples
///
/// ```
/// use threadline::SpanId;
/// let id: SpanId = "00f067aa0ba902b7".parse().unwrap();
/// assert_eq!(id.to_string(), "00f067aa0ba902b7");
/// assert!("00f067aa0ba902".parse::<SpanId>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

impl SpanId {
    /// The invalid, all-zero span id.
    pub const INVALID: SpanId = SpanId(0);

    /// Builds a span id from its 8 big-endian bytes.
    pub const fn from_bytes(bytes: [u8; 8]) -> Self {
        SpanId(u64::from_be_bytes(bytes))
    }

    /// The 8 big-endian bytes of this id.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Whether this id is not the all-zero id.
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// A new random, non-zero span id from this thread's generator.
    #[inline]
    pub fn random() -> Self {
        SpanId(next_random())
    }

    /// Parses 16 hex digits (either case).
    ///
    /// # Errors
    ///
    /// [`ParseIdError`] when the text is not 16 hex digits or is all zeros.
    pub fn from_hex(text: &str) -> Result<Self, ParseIdError> {
        parse_hex::<8>(text).map(SpanId::from_bytes)
    }
}

impl FromStr for SpanId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SpanId::from_hex(s)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({:016x})", self.0)
    }
}

thread_local! {
    static RNG_STATE: Cell<u64> = const { Cell::new(0) };
}

/// A random non-zero `u64` from a thread-local SplitMix64 generator.
///
/// Each thread seeds its generator once from the standard library's per-process random keys
/// mixed with the thread's identity, so threads never share a sequence and no lock or syscall
/// is needed afterwards.
#[inline]
pub(crate) fn next_random() -> u64 {
    RNG_STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        loop {
            s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if z != 0 {
                state.set(s);
                return z;
            }
        }
    })
}

#[cold]
fn seed() -> u64 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(std::process::id() as u64);
    std::hash::Hash::hash(&std::thread::current().id(), &mut hasher);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    hasher.write_u64(now);
    hasher.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_round_trips_and_rejects_bad_input() {
        let id = TraceId::from_hex("4BF92F3577B34DA6A3CE929D0E0E4736").unwrap();
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(TraceId::from_bytes(id.to_bytes()), id);
        assert_eq!(
            TraceId::from_hex("4bf9"),
            Err(ParseIdError::Length {
                expected: 32,
                found: 4
            })
        );
        assert_eq!(
            TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e473g"),
            Err(ParseIdError::Digit {
                found: 'g',
                position: 31
            })
        );
        assert_eq!(TraceId::from_hex(&"0".repeat(32)), Err(ParseIdError::Zero));
    }

    #[test]
    fn span_id_rejects_multibyte_text_without_panicking() {
        assert!(SpanId::from_hex("é0f067aa0ba902b").is_err());
        assert!(SpanId::from_hex("00f067aa0ba902bé").is_err());
        assert_eq!(
            SpanId::from_hex("0000000000000000"),
            Err(ParseIdError::Zero)
        );
    }

    #[test]
    fn random_ids_are_non_zero_and_distinct() {
        let ids: std::collections::HashSet<u64> = (0..10_000).map(|_| SpanId::random().0).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(!ids.contains(&0));
        assert!(TraceId::random().is_valid());
    }
}
