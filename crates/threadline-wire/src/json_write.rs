//! JSON text written straight into a byte buffer, spelled exactly as `serde_json` writes it
//! (compact, the same escapes, `zmij` floats), so that an encoder can skip building
//! `serde_json` values without changing a byte of its output.

use threadline::Value;

/// `s` as a JSON string: `"` and `\` escaped, control characters as `\b`, `\t`, `\n`, `\f`,
/// `\r` or `\u00XX` (lowercase hex), everything else as it is.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if !any_escaped(bytes) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    loop {
        let i = next_escaped(bytes, start);
        out.extend_from_slice(&bytes[start..i]);
        let Some(&b) = bytes.get(i) else {
            break;
        };
        start = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            0x0c => out.extend_from_slice(b"\\f"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
    out.push(b'"');
}

/// `s` as a JSON string, when it is known to need no escaping.
#[inline]
pub(crate) fn clean_string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// Whether [`string`] would escape any byte of `s`.
#[inline]
pub(crate) fn needs_escaping(s: &str) -> bool {
    any_escaped(s.as_bytes())
}

/// Whether any byte needs escaping: the words of eight bytes, and the last eight bytes (or the
/// bytes of a shorter text one by one), without stopping early.
#[inline]
fn any_escaped(bytes: &[u8]) -> bool {
    let word = |chunk: &[u8]| u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
    let mut chunks = bytes.chunks_exact(8);
    let mut found = false;
    for chunk in &mut chunks {
        found |= needs_escape(word(chunk));
    }
    if chunks.remainder().is_empty() {
        return found;
    }
    match bytes.len().checked_sub(8) {
        Some(last) => found | needs_escape(word(&bytes[last..])),
        None => bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\'),
    }
}

/// The index of the first byte from `from` on that needs escaping, or the length.
#[inline]
fn next_escaped(bytes: &[u8], mut i: usize) -> usize {
    // eight bytes at a time while none needs escaping, which is nearly always
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(chunk).unwrap_or_default());
        if needs_escape(word) {
            break;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

/// Whether any of the eight bytes is a control character, `"` or `\`: the usual tests for a
/// byte below a bound and for a zero byte, which are exact about whether any byte matches.
#[inline]
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    below_space | zero(quote) | zero(backslash) != 0
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// An unsigned integer.
pub(crate) fn u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// A signed integer.
pub(crate) fn i64(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// The shortest text that reads back as the same finite float, as `serde_json` writes it;
/// `None` for NaN and the infinities, which JSON cannot hold.
pub(crate) fn finite_f64(x: f64, write: impl FnOnce(&str)) -> bool {
    if x.is_finite() {
        write(zmij::Buffer::new().format_finite(x));
        true
    } else {
        false
    }
}

/// `n` as 16 lowercase hex digits.
pub(crate) fn hex_u64(out: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 16];
    hex_u64_into(&mut digits, n);
    out.extend_from_slice(&digits);
}

/// `n` as 16 lowercase hex digits, into `digits`.
#[inline]
pub(crate) fn hex_u64_into(digits: &mut [u8], n: u64) {
    if let Some(digits) = digits.get_mut(..16) {
        digits[..8].copy_from_slice(&hex_u32(n >> 32).to_be_bytes());
        digits[8..].copy_from_slice(&hex_u32(n).to_be_bytes());
    }
}

/// The low 32 bits of `n` as eight hex digits, the first in the highest byte: each nibble
/// spread into a byte of its own, then turned into its digit in all eight bytes at once.
#[inline]
fn hex_u32(n: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = n & 0xffff_ffff;
    let x = (x | (x << 16)) & 0x0000_ffff_0000_ffff;
    let x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff;
    let nibbles = (x | (x << 4)) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in each byte whose nibble is 10 or more, which `a`..`f` start 39 after `0` + 10
    let letters = ((nibbles + ONES * 6) >> 4) & ONES;
    nibbles + ONES * u64::from(b'0') + letters * 39
}

/// An attribute value as [`crate::json_value::to_json`] gives it, written as text: arrays as
/// arrays, bytes in base64, non-finite doubles as the strings `NaN`, `Infinity`, `-Infinity`.
pub(crate) fn value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Str(text) => string(out, text),
        Value::I64(n) => i64(out, *n),
        Value::F64(x) => {
            if !finite_f64(*x, |text| out.extend_from_slice(text.as_bytes())) {
                string(out, crate::json_value::non_finite(*x));
            }
        }
        Value::Bool(flag) => out.extend_from_slice(if *flag { b"true" } else { b"false" }),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self::value(out, item);
            }
            out.push(b']');
        }
        Value::Bytes(bytes) => string(out, &crate::base64::encode(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(write: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut all: String = (0u8..0x80).map(char::from).collect();
        all.push_str("é\u{2028}😀\u{7f}");
        let long = format!("{all}{all}0123456789abcdef\"0123456789\\abcdefgh\u{1}");
        for s in [
            all.as_str(),
            long.as_str(),
            "",
            "plain",
            "\"",
            "\\",
            "a\u{0}b\u{1f}",
            "0123456\"",
            "01234567\u{7}",
            "éééééééé\"",
        ] {
            assert_eq!(
                text(|out| string(out, s)),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn numbers_are_written_as_serde_json_writes_them() {
        for n in [0, 1, -1, i64::MIN, i64::MAX, 1_700_000_000_000_000] {
            assert_eq!(text(|out| i64(out, n)), serde_json::to_string(&n).unwrap());
        }
        assert_eq!(text(|out| u64(out, u64::MAX)), u64::MAX.to_string());
        for x in [
            0.0,
            -0.0,
            1.0,
            0.1,
            1e300,
            -2.5e-308,
            f64::MIN_POSITIVE,
            123.456,
        ] {
            let mut written = String::new();
            assert!(finite_f64(x, |t| written.push_str(t)));
            assert_eq!(written, serde_json::to_string(&x).unwrap());
        }
        assert!(!finite_f64(f64::NAN, |_| {}));
    }

    #[test]
    fn values_are_written_as_to_json_gives_them() {
        let values = [
            Value::from("a\"b"),
            Value::I64(-5),
            Value::F64(2.5),
            Value::F64(f64::NEG_INFINITY),
            Value::Bool(false),
            Value::Bytes(vec![0, 1, 255]),
            Value::Array(vec![
                Value::F64(f64::NAN),
                Value::from("x"),
                Value::Array(vec![]),
            ]),
        ];
        for v in &values {
            assert_eq!(
                text(|out| value(out, v)),
                crate::json_value::to_json(v).to_string()
            );
        }
        assert_eq!(text(|out| hex_u64(out, 0xab)), "00000000000000ab");
        for n in [
            0,
            u64::MAX,
            0x0123_4567_89ab_cdef,
            0xfedc_ba98_7654_3210,
            0x9a9a_0f0f_a0a0_1234,
        ] {
            assert_eq!(text(|out| hex_u64(out, n)), format!("{n:016x}"));
        }
    }

    proptest::proptest! {
        #[test]
        fn hex_digits_are_format_x(n: u64) {
            proptest::prop_assert_eq!(text(|out| hex_u64(out, n)), format!("{n:016x}"));
        }
    }
}
