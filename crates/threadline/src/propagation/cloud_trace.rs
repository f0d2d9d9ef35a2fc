//! Google Cloud Trace: the `X-Cloud-Trace-Context` header.

use super::{extract_header, parse_hex, Extractor, Injector, PropagationContext, Propagator};
use crate::context::{SpanContext, TraceOptions};
use crate::id::{SpanId, TraceId};

const HEADER: &str = "x-cloud-trace-context";

/// Why an `X-Cloud-Trace-Context` value was rejected.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{CloudTraceError, CloudTracePropagator};
/// assert_eq!(
///     CloudTracePropagator::parse_header("105445aa7843bc8bf206b12000100000"),
///     Err(CloudTraceError::MissingSpanId),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudTraceError {
    /// The trace id is not 32 hex digits.
    #[error("x-cloud-trace-context trace id is malformed")]
    TraceId,
    /// There is no `/` and span id after the trace id.
    #[error("x-cloud-trace-context has no span id")]
    MissingSpanId,
    /// The span id is not a decimal number that fits 64 bits.
    #[error("x-cloud-trace-context span id is not a decimal u64")]
    SpanId,
    /// The options are not `o=` and a decimal number.
    #[error("x-cloud-trace-context options are not o=0 or o=1")]
    Options,
    /// An id is zero.
    #[error("x-cloud-trace-context {0} is zero")]
    ZeroId(&'static str),
}

/// Google Cloud's `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS`, as Cloud Run, App
/// Engine and Google's load balancers send it.
///
/// `TRACE_ID` is 32 hex digits (either case), `SPAN_ID` a **decimal** unsigned 64-bit number,
/// and `o=1` means sampled (bit 0 of the number). Without `;o=...` the trace is read as not
/// sampled, as OpenTelemetry's Cloud Trace propagator does. Injection writes
/// `{32 hex}/{decimal};o={1 or 0}`.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::{CloudTracePropagator, Propagator};
/// let headers = HashMap::from([(
///     "X-Cloud-Trace-Context".to_string(),
///     "105445aa7843bc8bf206b12000100000/1;o=1".to_string(),
/// )]);
/// let span = CloudTracePropagator.extract(&headers).span_context.unwrap();
/// assert_eq!(span.span_id().to_string(), "0000000000000001");
/// assert!(span.is_sampled());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct CloudTracePropagator;

impl CloudTracePropagator {
    /// Parses an `X-Cloud-Trace-Context` value into a remote span context. Usable as a fuzz
    /// entry point.
    ///
    /// # Errors
    ///
    /// [`CloudTraceError`] naming the malformed part.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{CloudTraceError, CloudTracePropagator};
    /// let span = CloudTracePropagator::parse_header("105445aa7843bc8bf206b12000100000/18446744073709551615").unwrap();
    /// assert_eq!(span.span_id().0, u64::MAX);
    /// assert!(!span.is_sampled());
    /// assert_eq!(
    ///     CloudTracePropagator::parse_header("105445aa7843bc8bf206b12000100000/0x1f;o=1"),
    ///     Err(CloudTraceError::SpanId),
    /// );
    /// ```
    pub fn parse_header(value: &str) -> Result<SpanContext, CloudTraceError> {
        let value = value.trim_matches([' ', '\t']);
        let (ids, options) = match value.split_once(';') {
            Some((ids, options)) => (ids, Some(options)),
            None => (value, None),
        };
        let (trace, span) = ids.split_once('/').ok_or(CloudTraceError::MissingSpanId)?;
        if trace.len() != 32 {
            return Err(CloudTraceError::TraceId);
        }
        let trace_id = parse_hex(trace.as_bytes(), 32, false).ok_or(CloudTraceError::TraceId)?;
        if span.is_empty() || span.len() > 20 || !span.bytes().all(|c| c.is_ascii_digit()) {
            return Err(CloudTraceError::SpanId);
        }
        let span_id: u64 = span.parse().map_err(|_| CloudTraceError::SpanId)?;
        let sampled = match options {
            None => false,
            Some(options) => {
                let digits = options
                    .trim_matches([' ', '\t'])
                    .strip_prefix("o=")
                    .ok_or(CloudTraceError::Options)?;
                if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(CloudTraceError::Options);
                }
                let number: u32 = digits.parse().map_err(|_| CloudTraceError::Options)?;
                number & 1 == 1
            }
        };
        if trace_id == 0 {
            return Err(CloudTraceError::ZeroId("trace id"));
        }
        if span_id == 0 {
            return Err(CloudTraceError::ZeroId("span id"));
        }
        Ok(SpanContext::new(
            TraceId(trace_id),
            SpanId(span_id),
            TraceOptions::default().with_sampled(sampled),
        )
        .with_from_header(true))
    }

    /// The `X-Cloud-Trace-Context` value for `context`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::CloudTracePropagator;
    /// use threadline::{SpanContext, SpanId, TraceId, TraceOptions};
    /// let cx = SpanContext::new(TraceId(0x105445aa7843bc8bf206b12000100000), SpanId(1), TraceOptions::SAMPLED);
    /// assert_eq!(CloudTracePropagator::format_header(&cx), "105445aa7843bc8bf206b12000100000/1;o=1");
    /// ```
    pub fn format_header(context: &SpanContext) -> String {
        format!(
            "{}/{};o={}",
            context.trace_id(),
            context.span_id().0,
            u8::from(context.is_sampled())
        )
    }
}

impl Propagator for CloudTracePropagator {
    fn inject(&self, context: &PropagationContext, carrier: &mut dyn Injector) {
        if let Some(span) = context.span_context.as_ref().filter(|s| s.is_valid()) {
            carrier.set(HEADER, Self::format_header(span));
        }
    }

    fn extract(&self, carrier: &dyn Extractor) -> PropagationContext {
        extract_header(carrier, HEADER, Self::parse_header)
            .map_or_else(PropagationContext::default, PropagationContext::new)
    }

    fn fields(&self) -> Vec<String> {
        vec![HEADER.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::propagation::test_support::remote_contexts;

    const TRACE: &str = "105445aa7843bc8bf206b12000100000";

    #[test]
    fn google_examples() {
        let cx = CloudTracePropagator::parse_header(&format!("{TRACE}/1;o=1")).unwrap();
        assert_eq!(cx.trace_id().to_string(), TRACE);
        assert_eq!(cx.span_id(), SpanId(1));
        assert!(cx.is_sampled() && cx.from_header());
        let cx = CloudTracePropagator::parse_header(&format!("{TRACE}/2;o=0")).unwrap();
        assert!(!cx.is_sampled());
        let cx = CloudTracePropagator::parse_header(&format!("{TRACE}/123")).unwrap();
        assert_eq!(cx.span_id(), SpanId(123));
        assert!(!cx.is_sampled());
        let upper = CloudTracePropagator::parse_header(&format!("{}/5;o=1", TRACE.to_uppercase()));
        assert_eq!(upper.unwrap().trace_id().to_string(), TRACE);
    }

    #[test]
    fn malformed_inputs_are_rejected_with_a_reason() {
        use CloudTraceError::*;
        let cases: Vec<(String, CloudTraceError)> = vec![
            (String::new(), MissingSpanId),
            (TRACE.into(), MissingSpanId),
            (format!("{TRACE};o=1"), MissingSpanId),
            (format!("{}/1", &TRACE[..31]), TraceId),
            (format!("{TRACE}0/1"), TraceId),
            (format!("{}x/1", &TRACE[..31]), TraceId),
            (format!("{TRACE}/"), SpanId),
            (format!("{TRACE}/abc"), SpanId),
            (format!("{TRACE}/-1"), SpanId),
            (format!("{TRACE}/18446744073709551616"), SpanId),
            (format!("{TRACE}/123456789012345678901"), SpanId),
            (format!("{TRACE}/1;o="), Options),
            (format!("{TRACE}/1;x=1"), Options),
            (format!("{TRACE}/1;o=yes"), Options),
            (format!("{TRACE}/1;o=99999999999"), Options),
            (format!("{}/1", "0".repeat(32)), ZeroId("trace id")),
            (format!("{TRACE}/0;o=1"), ZeroId("span id")),
            (format!("{}é/1", &TRACE[..30]), TraceId),
        ];
        for (input, expected) in cases {
            assert_eq!(
                CloudTracePropagator::parse_header(&input),
                Err(expected),
                "{input:?}"
            );
            let carrier = HashMap::from([(HEADER.to_string(), input)]);
            assert!(CloudTracePropagator.extract(&carrier).is_empty());
        }
    }

    proptest! {
        #[test]
        fn round_trip(cx in remote_contexts(&[0, 1])) {
            let mut carrier = HashMap::new();
            CloudTracePropagator.inject(&PropagationContext::new(cx.clone()), &mut carrier);
            prop_assert_eq!(CloudTracePropagator.extract(&carrier).span_context, Some(cx));
        }

        #[test]
        fn arbitrary_input_never_panics(value in "\\PC{0,80}") {
            let carrier = HashMap::from([(HEADER.to_string(), value)]);
            let _ = CloudTracePropagator.extract(&carrier);
        }
    }
}
