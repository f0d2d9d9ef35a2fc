//! Jaeger: the `uber-trace-id` header and `uberctx-{key}` baggage headers.

use super::{
    extract_header, parse_hex, percent_decode, percent_encode, reject, Baggage, Extractor,
    Injector, PropagationContext, Propagator,
};
use crate::context::{SpanContext, TraceOptions};
use crate::id::{SpanId, TraceId};

const UBER_TRACE_ID: &str = "uber-trace-id";
const BAGGAGE_PREFIX: &str = "uberctx-";

/// Why an `uber-trace-id` value was rejected.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{JaegerError, JaegerPropagator};
/// assert_eq!(JaegerPropagator::parse_uber_trace_id("1:2:0"), Err(JaegerError::FieldCount(3)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaegerError {
    /// Not four `:`-separated fields.
    #[error("uber-trace-id has {0} fields, expected 4")]
    FieldCount(usize),
    /// A field is not hex of at most its width (32 digits for the trace id, 16 for span
    /// ids, 2 for the flags).
    #[error("uber-trace-id {0} is malformed")]
    Field(&'static str),
    /// An id is all zeros.
    #[error("uber-trace-id {0} is all zeros")]
    ZeroId(&'static str),
}

/// Jaeger's native propagation: `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`
/// and one `uberctx-{key}: {value}` header per baggage entry.
///
/// Ids may be shorter than their full width (leading zeros left out) and are accepted in
/// either case; a value URL-encoded as a whole (`%3A` for `:`) is accepted. The flags are hex:
/// bit 0 is sampled, bit 1 debug (which also means sampled); debug is not propagated further.
/// The parent span id is deprecated, validated and ignored.
///
/// Baggage keys are the header names after `uberctx-`, lowercase as HTTP carriers keep them;
/// values are percent-decoded (kept as they are when that fails). Injection writes
/// `{32 hex}:{16 hex}:0:{1 or 0}` and percent-encoded `uberctx-` values; baggage properties
/// do not travel in this format.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::{JaegerPropagator, Propagator};
/// let headers = HashMap::from([
///     ("uber-trace-id".to_string(), "f1f1f1f1f1f1f1f1%3Aa2a2a2a2a2a2a2a2%3A0%3A1".to_string()),
///     ("uberctx-tenant".to_string(), "acme%20corp".to_string()),
/// ]);
/// let cx = JaegerPropagator.extract(&headers);
/// let span = cx.span_context.unwrap();
/// assert_eq!(span.trace_id().to_string(), "0000000000000000f1f1f1f1f1f1f1f1");
/// assert!(span.is_sampled());
/// assert_eq!(cx.baggage.get("tenant"), Some("acme corp"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JaegerPropagator;

impl JaegerPropagator {
    /// Parses an `uber-trace-id` value into a remote span context. Usable as a fuzz entry
    /// point.
    ///
    /// # Errors
    ///
    /// [`JaegerError`] naming the malformed field.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{JaegerError, JaegerPropagator};
    /// let span = JaegerPropagator::parse_uber_trace_id("abc:def:0:3").unwrap();
    /// assert_eq!(span.span_id().to_string(), "0000000000000def");
    /// assert!(span.is_sampled());
    /// assert_eq!(JaegerPropagator::parse_uber_trace_id("0:def:0:1"), Err(JaegerError::ZeroId("trace id")));
    /// ```
    pub fn parse_uber_trace_id(value: &str) -> Result<SpanContext, JaegerError> {
        let value = value.trim_matches([' ', '\t']);
        let decoded;
        let value = if value.contains('%') {
            decoded = value.replace("%3A", ":").replace("%3a", ":");
            decoded.as_str()
        } else {
            value
        };
        let fields: Vec<&str> = value.split(':').collect();
        if fields.len() != 4 {
            return Err(JaegerError::FieldCount(fields.len()));
        }
        let hex = |text: &str, width: usize, name: &'static str| {
            parse_hex(text.as_bytes(), width, false).ok_or(JaegerError::Field(name))
        };
        let trace_id = hex(fields[0], 32, "trace id")?;
        let span_id = hex(fields[1], 16, "span id")?;
        hex(fields[2], 16, "parent span id")?;
        let flags = hex(fields[3], 2, "flags")? as u8;
        if trace_id == 0 {
            return Err(JaegerError::ZeroId("trace id"));
        }
        if span_id == 0 {
            return Err(JaegerError::ZeroId("span id"));
        }
        let sampled = flags & 0b11 != 0;
        Ok(SpanContext::new(
            TraceId(trace_id),
            SpanId(span_id as u64),
            TraceOptions::default().with_sampled(sampled),
        )
        .with_from_header(true))
    }

    /// The `uber-trace-id` value for `context`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::JaegerPropagator;
    /// use threadline::{SpanContext, SpanId, TraceId, TraceOptions};
    /// let cx = SpanContext::new(TraceId(0xabc), SpanId(0xdef), TraceOptions::SAMPLED);
    /// assert_eq!(
    ///     JaegerPropagator::format_uber_trace_id(&cx),
    ///     "00000000000000000000000000000abc:0000000000000def:0:1",
    /// );
    /// ```
    pub fn format_uber_trace_id(context: &SpanContext) -> String {
        format!(
            "{}:{}:0:{}",
            context.trace_id(),
            context.span_id(),
            u8::from(context.is_sampled())
        )
    }
}

impl Propagator for JaegerPropagator {
    fn inject(&self, context: &PropagationContext, carrier: &mut dyn Injector) {
        if let Some(span) = context.span_context.as_ref().filter(|s| s.is_valid()) {
            carrier.set(UBER_TRACE_ID, Self::format_uber_trace_id(span));
        }
        for entry in &context.baggage {
            let mut value = String::new();
            percent_encode(entry.value(), &mut value);
            carrier.set(&format!("{BAGGAGE_PREFIX}{}", entry.key()), value);
        }
    }

    fn extract(&self, carrier: &dyn Extractor) -> PropagationContext {
        let mut cx = PropagationContext {
            span_context: extract_header(carrier, UBER_TRACE_ID, Self::parse_uber_trace_id),
            ..PropagationContext::default()
        };
        let mut keys: Vec<&str> = carrier
            .keys()
            .into_iter()
            .filter(|k| {
                k.len() > BAGGAGE_PREFIX.len()
                    && k.is_char_boundary(BAGGAGE_PREFIX.len())
                    && k[..BAGGAGE_PREFIX.len()].eq_ignore_ascii_case(BAGGAGE_PREFIX)
            })
            .collect();
        // Carriers such as hash maps list keys in no particular order.
        keys.sort_unstable();
        let mut baggage = Baggage::new();
        for header in keys {
            let Some(raw) = carrier.get(header) else {
                continue;
            };
            let key = header[BAGGAGE_PREFIX.len()..].to_ascii_lowercase();
            let value = percent_decode(raw).unwrap_or_else(|| raw.to_string());
            if let Err(error) = baggage.insert(key, value) {
                reject(header, raw, &error);
            }
        }
        cx.baggage = baggage;
        cx
    }

    fn fields(&self) -> Vec<String> {
        vec![UBER_TRACE_ID.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::propagation::test_support::{headers, remote_contexts};

    #[test]
    fn examples() {
        let cx = JaegerPropagator::parse_uber_trace_id(
            "6cbc8f3f5e0b6b9e4b1c1d7b7a4d4a6e:4b1c1d7b7a4d4a6e:0:1",
        )
        .unwrap();
        assert_eq!(
            cx.trace_id().to_string(),
            "6cbc8f3f5e0b6b9e4b1c1d7b7a4d4a6e"
        );
        assert!(cx.is_sampled() && cx.from_header());
        let short = JaegerPropagator::parse_uber_trace_id("1:2:0:0").unwrap();
        assert_eq!((short.trace_id(), short.span_id()), (TraceId(1), SpanId(2)));
        assert!(!short.is_sampled());
        for (flags, sampled) in [
            ("0", false),
            ("1", true),
            ("2", true),
            ("3", true),
            ("00", false),
            ("ff", true),
            ("4", false),
        ] {
            let cx = JaegerPropagator::parse_uber_trace_id(&format!("1:2:0:{flags}")).unwrap();
            assert_eq!(cx.is_sampled(), sampled, "flags {flags}");
        }
        let encoded = JaegerPropagator::parse_uber_trace_id("ABC%3adef%3A5%3A1").unwrap();
        assert_eq!(encoded.trace_id(), TraceId(0xabc));
        // A parent span id is accepted and ignored.
        assert_eq!(
            JaegerPropagator::parse_uber_trace_id("1:2:3:1")
                .unwrap()
                .span_id(),
            SpanId(2)
        );
    }

    #[test]
    fn malformed_inputs_are_rejected_with_a_reason() {
        use JaegerError::*;
        let long_trace = "1".repeat(33);
        let long_span = "1".repeat(17);
        let cases: Vec<(String, JaegerError)> = vec![
            (String::new(), FieldCount(1)),
            ("1:2:0".into(), FieldCount(3)),
            ("1:2:0:1:5".into(), FieldCount(5)),
            ("1%3A2%3A0".into(), FieldCount(3)),
            (":2:0:1".into(), Field("trace id")),
            ("1::0:1".into(), Field("span id")),
            ("1:2::1".into(), Field("parent span id")),
            ("1:2:0:".into(), Field("flags")),
            ("1:2:0:100".into(), Field("flags")),
            ("x:2:0:1".into(), Field("trace id")),
            (format!("{long_trace}:2:0:1"), Field("trace id")),
            (format!("1:{long_span}:0:1"), Field("span id")),
            ("0:2:0:1".into(), ZeroId("trace id")),
            ("1:0000:0:1".into(), ZeroId("span id")),
            ("1:é:0:1".into(), Field("span id")),
            ("1%3Z2:2:0:1".into(), Field("trace id")),
        ];
        for (input, expected) in cases {
            assert_eq!(
                JaegerPropagator::parse_uber_trace_id(&input),
                Err(expected),
                "{input:?}"
            );
            assert!(JaegerPropagator
                .extract(&headers(&[("uber-trace-id", &input)]))
                .is_empty());
        }
    }

    #[test]
    fn baggage_headers() {
        let cx = JaegerPropagator.extract(&headers(&[
            ("Uberctx-User", "ada"),
            ("uberctx-bad%", "%zz"),
            ("uberctx-", "empty key"),
            ("uberctx-two%20words", "x"),
        ]));
        assert_eq!(cx.span_context, None);
        assert_eq!(cx.baggage.get("user"), Some("ada"));
        assert_eq!(cx.baggage.get("bad%"), Some("%zz"));
        assert_eq!(cx.baggage.len(), 3);
        let mut out = HashMap::new();
        JaegerPropagator.inject(&cx, &mut out);
        assert_eq!(out["uberctx-user"], "ada");
        assert_eq!(out["uberctx-bad%"], "%25zz");
    }

    proptest! {
        #[test]
        fn round_trip(cx in remote_contexts(&[0, 1]), value in "\\PC{0,20}") {
            let mut baggage = Baggage::new();
            baggage.insert("k", value).unwrap();
            let cx = PropagationContext::new(cx).with_baggage(baggage);
            let mut carrier = HashMap::new();
            JaegerPropagator.inject(&cx, &mut carrier);
            prop_assert_eq!(JaegerPropagator.extract(&carrier), cx);
        }

        #[test]
        fn arbitrary_input_never_panics(value in "\\PC{0,80}", key in "\\PC{0,10}", bag in "\\PC{0,20}") {
            let _ = JaegerPropagator.extract(&headers(&[("uber-trace-id", &value), (&format!("uberctx-{key}"), &bag)]));
        }
    }
}
