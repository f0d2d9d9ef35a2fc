//! Attribute values as JSON, as the OpenTelemetry rules for non-OTLP formats write them: JSON
//! has no NaN or infinities, so those doubles are spelled out as strings.

use serde_json::Value as Json;
use threadline::Value;

/// `NaN`, `Infinity` or `-Infinity`: how a double that JSON cannot hold is spelled.
pub(crate) fn non_finite(x: f64) -> &'static str {
    if x.is_nan() {
        "NaN"
    } else if x > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// A value as JSON: arrays as arrays, bytes as base64, non-finite doubles spelled out.
pub(crate) fn to_json(value: &Value) -> Json {
    match value {
        Value::Str(text) => Json::String(text.to_string()),
        Value::I64(n) => Json::from(*n),
        Value::F64(x) => match serde_json::Number::from_f64(*x) {
            Some(number) => Json::Number(number),
            None => Json::from(non_finite(*x)),
        },
        Value::Bool(flag) => Json::Bool(*flag),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Bytes(bytes) => Json::String(crate::base64::encode(bytes)),
    }
}
