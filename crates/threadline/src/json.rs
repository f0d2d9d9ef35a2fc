//! A minimal JSON writer for the console and file exporters, so the core needs no serde.

use std::fmt::Write;

use crate::value::Value;

/// Appends `s` as a JSON string literal.
pub(crate) fn push_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a value as JSON; non-finite floats become strings since JSON has no literal for them.
pub(crate) fn push_value(out: &mut String, value: &Value) {
    match value {
        Value::Str(s) => push_str(out, s),
        Value::I64(v) => {
            let _ = write!(out, "{v}");
        }
        Value::F64(v) if v.is_finite() => {
            let _ = write!(out, "{v:?}");
        }
        Value::F64(v) => push_str(out, &v.to_string()),
        Value::Bool(v) => {
            let _ = write!(out, "{v}");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_value(out, item);
            }
            out.push(']');
        }
        Value::Bytes(bytes) => push_str(out, &Value::Bytes(bytes.clone()).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_control_characters() {
        let mut out = String::new();
        push_str(&mut out, "a\"b\\c\nd\u{1}");
        assert_eq!(out, r#""a\"b\\c\nd\u0001""#);
    }

    #[test]
    fn non_finite_floats_are_strings() {
        let mut out = String::new();
        push_value(&mut out, &Value::F64(f64::NAN));
        assert_eq!(out, r#""NaN""#);
    }
}
