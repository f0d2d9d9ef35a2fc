//! W3C Trace Context: the `traceparent` and `tracestate` headers.

use super::{
    extract_header, parse_hex, reject, Extractor, Injector, PropagationContext, Propagator,
};
use crate::context::{SpanContext, TraceOptions, TraceState, TraceStateError};
use crate::id::{SpanId, TraceId};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// Why a `traceparent` value was rejected.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{TraceContextPropagator, TraceparentError};
/// let zero = "00-00000000000000000000000000000000-00f067aa0ba902b7-01";
/// let error = TraceContextPropagator::parse_traceparent(zero).unwrap_err();
/// assert_eq!(error, TraceparentError::ZeroId("trace-id"));
/// assert_eq!(error.to_string(), "traceparent trace-id is all zeros");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceparentError {
    /// Shorter than the 55 characters every version needs.
    #[error("traceparent has {0} bytes, at least 55 are needed")]
    TooShort(usize),
    /// Version 00 is exactly 55 characters.
    #[error("traceparent version 00 has {0} bytes, exactly 55 are needed")]
    Version00Length(usize),
    /// The version is not two lowercase hex digits, or is the invalid `ff`.
    #[error("traceparent version {0:?} is invalid")]
    Version(String),
    /// A field is not lowercase hex of the right length, or not followed by `-`.
    #[error("traceparent {0} is malformed")]
    Field(&'static str),
    /// An id is all zeros.
    #[error("traceparent {0} is all zeros")]
    ZeroId(&'static str),
}

/// W3C Trace Context (`traceparent`, `tracestate`), OpenTelemetry's default format.
///
/// Extraction follows the specification's version rules: version `00` must be exactly
/// `00-{32 hex trace-id}-{16 hex parent-id}-{2 hex flags}`, in lowercase; a higher version
/// (but not `ff`) is parsed for those same fields, and anything after them must start with `-`.
/// All-zero ids are invalid. The flags byte is kept as it came; bit 0 is the sampled flag.
///
/// `tracestate` is read only with a valid `traceparent`; when it breaks the grammar, has
/// duplicate keys or more than 32 members, it is dropped and the `traceparent` kept.
///
/// Injection writes version `00` with the sampled and random flags (bits 0 and 1) and, when
/// not empty, the `tracestate`.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::{Propagator, TraceContextPropagator};
/// let headers = HashMap::from([
///     ("traceparent".to_string(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_string()),
///     ("tracestate".to_string(), "congo=t61rcWkgMzE".to_string()),
/// ]);
/// let span = TraceContextPropagator.extract(&headers).span_context.unwrap();
/// assert!(span.is_sampled() && span.from_header());
/// assert_eq!(span.tracestate().get("congo"), Some("t61rcWkgMzE"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextPropagator;

impl TraceContextPropagator {
    /// Parses a `traceparent` value into a remote span context. Usable as a fuzz entry point.
    ///
    /// # Errors
    ///
    /// [`TraceparentError`] naming what is wrong.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{TraceContextPropagator, TraceparentError};
    /// let ok = TraceContextPropagator::parse_traceparent(
    ///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
    /// );
    /// assert!(!ok.unwrap().is_sampled());
    /// assert_eq!(
    ///     TraceContextPropagator::parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ///     Err(TraceparentError::Version("ff".into())),
    /// );
    /// ```
    pub fn parse_traceparent(value: &str) -> Result<SpanContext, TraceparentError> {
        let b = value.trim_matches([' ', '\t']).as_bytes();
        if b.len() < 55 {
            return Err(TraceparentError::TooShort(b.len()));
        }
        let version = parse_hex(&b[0..2], 2, true)
            .filter(|v| *v != 0xff && b[2] == b'-')
            .ok_or_else(|| TraceparentError::Version(String::from_utf8_lossy(&b[..2]).into()))?;
        if version == 0 && b.len() != 55 {
            return Err(TraceparentError::Version00Length(b.len()));
        }
        if b.len() > 55 && b[55] != b'-' {
            return Err(TraceparentError::Field("trace-flags"));
        }
        let field = |range: std::ops::Range<usize>, name: &'static str| {
            let end = range.end;
            parse_hex(&b[range.clone()], range.len(), true)
                .filter(|_| end >= b.len() || b[end] == b'-')
                .ok_or(TraceparentError::Field(name))
        };
        let trace_id = field(3..35, "trace-id")?;
        let span_id = field(36..52, "parent-id")?;
        let flags = field(53..55, "trace-flags")?;
        if trace_id == 0 {
            return Err(TraceparentError::ZeroId("trace-id"));
        }
        if span_id == 0 {
            return Err(TraceparentError::ZeroId("parent-id"));
        }
        Ok(SpanContext::new(
            TraceId(trace_id),
            SpanId(span_id as u64),
            TraceOptions::from_byte(flags as u8),
        )
        .with_from_header(true))
    }

    /// Parses a `tracestate` value as the W3C rules say: the grammar, unique keys, at most 32
    /// members.
    ///
    /// # Errors
    ///
    /// [`TraceStateError`] for the first problem found.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::TraceContextPropagator;
    /// assert!(TraceContextPropagator::parse_tracestate("a=1,b=2").is_ok());
    /// assert!(TraceContextPropagator::parse_tracestate("a=1,a=2").is_err());
    /// ```
    pub fn parse_tracestate(value: &str) -> Result<TraceState, TraceStateError> {
        let state = TraceState::from_header(value)?;
        let members = state.members();
        for (i, (key, _)) in members.iter().enumerate() {
            if members[..i].iter().any(|(k, _)| k == key) {
                return Err(TraceStateError::DuplicateKey(key.clone()));
            }
        }
        Ok(state)
    }

    /// The `traceparent` value for `context` (version 00).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::TraceContextPropagator;
    /// use threadline::{SpanContext, SpanId, TraceId, TraceOptions};
    /// let cx = SpanContext::new(TraceId(1), SpanId(2), TraceOptions::SAMPLED);
    /// assert_eq!(
    ///     TraceContextPropagator::format_traceparent(&cx),
    ///     "00-00000000000000000000000000000001-0000000000000002-01",
    /// );
    /// ```
    pub fn format_traceparent(context: &SpanContext) -> String {
        format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_options().to_byte() & 0x03
        )
    }
}

impl Propagator for TraceContextPropagator {
    fn inject(&self, context: &PropagationContext, carrier: &mut dyn Injector) {
        let Some(span) = context.span_context.as_ref().filter(|s| s.is_valid()) else {
            return;
        };
        carrier.set(TRACEPARENT, Self::format_traceparent(span));
        if !span.tracestate().is_empty() {
            carrier.set(TRACESTATE, span.tracestate().to_header());
        }
    }

    fn extract(&self, carrier: &dyn Extractor) -> PropagationContext {
        let Some(span) = extract_header(carrier, TRACEPARENT, Self::parse_traceparent) else {
            return PropagationContext::default();
        };
        let state = match carrier.get(TRACESTATE).map(Self::parse_tracestate) {
            None => TraceState::EMPTY,
            Some(Ok(state)) => state,
            Some(Err(error)) => {
                reject(TRACESTATE, carrier.get(TRACESTATE).unwrap_or(""), &error);
                TraceState::EMPTY
            }
        };
        PropagationContext::new(span.with_tracestate(state))
    }

    fn fields(&self) -> Vec<String> {
        vec![TRACEPARENT.to_string(), TRACESTATE.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::propagation::test_support::{headers, remote_contexts};

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn spec_examples() {
        let cx = TraceContextPropagator::parse_traceparent(VALID).unwrap();
        assert_eq!(
            cx.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(cx.span_id().to_string(), "00f067aa0ba902b7");
        assert!(cx.is_sampled());
        assert!(cx.from_header());
        let cx = TraceContextPropagator::parse_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )
        .unwrap();
        assert!(!cx.is_sampled());
        // Unknown flags are kept; only the sampled bit decides.
        let cx = TraceContextPropagator::parse_traceparent(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09",
        )
        .unwrap();
        assert!(cx.is_sampled());
        assert_eq!(cx.trace_options().to_byte(), 9);
        // Surrounding whitespace (HTTP optional whitespace) is ignored.
        assert!(TraceContextPropagator::parse_traceparent(&format!(" {VALID}\t")).is_ok());
    }

    #[test]
    fn future_versions_are_parsed_forward_compatibly() {
        let base = "4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        for ok in [
            format!("01-{base}"),
            format!("cc-{base}"),
            format!("cc-{base}-what-the-future-will-be-like"),
            format!("fe-{base}-"),
        ] {
            let cx = TraceContextPropagator::parse_traceparent(&ok)
                .unwrap_or_else(|e| panic!("{ok}: {e}"));
            assert!(cx.is_sampled());
        }
        assert_eq!(
            TraceContextPropagator::parse_traceparent(&format!("cc-{base}.what")),
            Err(TraceparentError::Field("trace-flags"))
        );
        assert_eq!(
            TraceContextPropagator::parse_traceparent(&format!("00-{base}-extra")),
            Err(TraceparentError::Version00Length(61))
        );
    }

    #[test]
    fn malformed_traceparents_are_rejected_with_a_reason() {
        use TraceparentError::*;
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        let s = "00f067aa0ba902b7";
        let zeros32 = "0".repeat(32);
        let cases: Vec<(String, TraceparentError)> = vec![
            (String::new(), TooShort(0)),
            (format!("00-{t}-{s}-0"), TooShort(54)),
            (format!("ff-{t}-{s}-01"), Version("ff".into())),
            (format!("0g-{t}-{s}-01"), Version("0g".into())),
            (format!("0A-{t}-{s}-01"), Version("0A".into())),
            (format!("00_{t}-{s}-01"), Version("00".into())),
            (format!("00-{}-{s}-01", t.to_uppercase()), Field("trace-id")),
            (
                format!("00-{t}-{}-01", s.to_uppercase()),
                Field("parent-id"),
            ),
            (format!("00-{t}-{s}-0A"), Field("trace-flags")),
            (format!("00-{t}-{s}-0x"), Field("trace-flags")),
            (format!("00-{t}_{s}-01"), Field("trace-id")),
            (format!("00-{t}-{s}_01"), Field("parent-id")),
            (format!("00-{zeros32}-{s}-01"), ZeroId("trace-id")),
            (format!("00-{t}-0000000000000000-01"), ZeroId("parent-id")),
            (format!("00-{}-{s}-01", &t[..31]), TooShort(54)),
            (format!("00-{}é-{s}-0", &t[..31]), Field("trace-id")),
            ("é".repeat(30), Version("é".into())),
            (format!("0{}", "é".repeat(30)), Version("0\u{fffd}".into())),
        ];
        for (input, expected) in cases {
            assert_eq!(
                TraceContextPropagator::parse_traceparent(&input),
                Err(expected),
                "{input:?}"
            );
            let extracted = TraceContextPropagator.extract(&headers(&[("traceparent", &input)]));
            assert!(extracted.is_empty(), "{input:?}");
        }
    }

    #[test]
    fn tracestate_over_limit_or_invalid_is_dropped_not_the_traceparent() {
        let many = (0..33)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        for bad in [many.as_str(), "a=1,a=2", "UPPER=x", "a=b=c", "novalue"] {
            let cx = TraceContextPropagator
                .extract(&headers(&[("traceparent", VALID), ("tracestate", bad)]))
                .span_context
                .unwrap();
            assert!(cx.tracestate().is_empty(), "{bad}");
            assert!(cx.is_valid());
        }
        let thirty_two = (0..32)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let cx = TraceContextPropagator
            .extract(&headers(&[
                ("traceparent", VALID),
                ("tracestate", &thirty_two),
            ]))
            .span_context
            .unwrap();
        assert_eq!(cx.tracestate().members().len(), 32);
    }

    #[test]
    fn invalid_context_injects_nothing() {
        let mut carrier = HashMap::new();
        TraceContextPropagator.inject(&PropagationContext::default(), &mut carrier);
        TraceContextPropagator.inject(
            &PropagationContext {
                span_context: Some(SpanContext::INVALID),
                ..Default::default()
            },
            &mut carrier,
        );
        assert!(carrier.is_empty());
    }

    proptest! {
        #[test]
        fn round_trip(
            cx in remote_contexts(&[0, 1, 2, 3]),
            state in proptest::sample::select(vec!["", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", "a@b=c"]),
        ) {
            let cx = cx.with_tracestate(TraceState::from_header(state).unwrap());
            let mut carrier = HashMap::new();
            TraceContextPropagator.inject(&PropagationContext::new(cx.clone()), &mut carrier);
            let back = TraceContextPropagator.extract(&carrier);
            prop_assert_eq!(back.span_context, Some(cx));
        }

        #[test]
        fn arbitrary_input_never_panics(value in "\\PC{0,80}", state in "\\PC{0,40}") {
            let _ = TraceContextPropagator.extract(&headers(&[("traceparent", &value), ("tracestate", &state)]));
        }
    }
}
