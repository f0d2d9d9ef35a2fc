//! B3 (Zipkin): the single `b3` header and the `X-B3-*` headers.

use super::{parse_hex, reject, Extractor, Injector, PropagationContext, Propagator};
use crate::context::{SpanContext, TraceOptions};
use crate::id::{SpanId, TraceId};

const B3: &str = "b3";
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const PARENT_SPAN_ID: &str = "x-b3-parentspanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";

/// Why a B3 header was rejected.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{B3Error, B3Propagator};
/// assert_eq!(B3Propagator::parse_single("abc-def"), Err(B3Error::Field("trace id")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum B3Error {
    /// The single header does not have 2 to 4 `-`-separated fields (or 1 sampling state).
    #[error("b3 header has {0} fields, expected 1 to 4")]
    FieldCount(usize),
    /// A field is malformed: an id that is not 16 or 32 hex digits (16 for span ids), or a
    /// sampling state other than `0`, `1`, `d` (`true`/`false` too in `X-B3-Sampled`).
    #[error("b3 {0} is malformed")]
    Field(&'static str),
    /// An id is all zeros.
    #[error("b3 {0} is all zeros")]
    ZeroId(&'static str),
    /// The multi-header form has a trace id without a span id or the reverse.
    #[error("b3 {0} is missing")]
    Missing(&'static str),
}

/// Which B3 form [`B3Propagator`] injects.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{B3Encoding, B3Propagator};
/// assert_eq!(B3Propagator::multi().encoding(), B3Encoding::Multi);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum B3Encoding {
    /// `b3: {trace-id}-{span-id}-{sampled}`.
    Single,
    /// `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled`.
    Multi,
}

/// B3 propagation, as Zipkin's instrumentation speaks it.
///
/// Extraction tries the single `b3` header first and falls back to the multi-header form,
/// whichever form this propagator injects. Trace ids of 16 hex digits (64 bits) are
/// left-padded with zeros to 128 bits; ids are accepted in either case. The sampling state
/// `1` or `d` (debug), `X-B3-Sampled: true` or `X-B3-Flags: 1` means sampled; `0` means not
/// sampled; an absent state (a deferred decision) is read as not sampled, as OpenTelemetry
/// does. The debug flag is not propagated further. The parent span id is validated and
/// otherwise ignored.
///
/// The single-header "deny" form `b3: 0` (and `X-B3-Sampled: 0` without ids) yields no span
/// context but [`PropagationContext::sampling_decision`] `Some(false)`, which
/// [`PropagationContext::attach`] honours; injecting such a context writes `b3: 0`
/// (`X-B3-Sampled: 0`).
///
/// Injection writes 32 hex digit trace ids and no parent span id.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::{B3Propagator, Propagator};
/// let headers = HashMap::from([(
///     "b3".to_string(),
///     "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90".to_string(),
/// )]);
/// let span = B3Propagator::single().extract(&headers).span_context.unwrap();
/// assert_eq!(span.span_id().to_string(), "e457b5a2e4d86bd1");
/// assert!(span.is_sampled());
///
/// let mut out = HashMap::new();
/// B3Propagator::multi().inject(&span.into(), &mut out);
/// assert_eq!(out["x-b3-traceid"], "80f198ee56343ba864fe8b2a57d3eff7");
/// assert_eq!(out["x-b3-sampled"], "1");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl Default for B3Propagator {
    /// The single-header form, as OpenTelemetry's `b3` name means.
    fn default() -> Self {
        B3Propagator::single()
    }
}

impl B3Propagator {
    /// Injects the single `b3` header (`OTEL_PROPAGATORS=b3`).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{B3Encoding, B3Propagator};
    /// assert_eq!(B3Propagator::single().encoding(), B3Encoding::Single);
    /// ```
    pub const fn single() -> Self {
        B3Propagator {
            encoding: B3Encoding::Single,
        }
    }

    /// Injects the `X-B3-*` headers (`OTEL_PROPAGATORS=b3multi`).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{B3Encoding, B3Propagator};
    /// assert_eq!(B3Propagator::multi().encoding(), B3Encoding::Multi);
    /// ```
    pub const fn multi() -> Self {
        B3Propagator {
            encoding: B3Encoding::Multi,
        }
    }

    /// The form this propagator injects.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{B3Encoding, B3Propagator};
    /// assert_eq!(B3Propagator::default().encoding(), B3Encoding::Single);
    /// ```
    pub const fn encoding(&self) -> B3Encoding {
        self.encoding
    }

    /// Parses a single `b3` header value. Usable as a fuzz entry point.
    ///
    /// # Errors
    ///
    /// [`B3Error`] naming the malformed field.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::B3Propagator;
    /// let deny = B3Propagator::parse_single("0").unwrap();
    /// assert_eq!((deny.span_context, deny.sampling_decision), (None, Some(false)));
    /// let short = B3Propagator::parse_single("a3ce929d0e0e4736-00f067aa0ba902b7-d").unwrap();
    /// assert_eq!(
    ///     short.span_context.unwrap().trace_id().to_string(),
    ///     "0000000000000000a3ce929d0e0e4736",
    /// );
    /// assert!(B3Propagator::parse_single("a3ce929d0e0e4736").is_err());
    /// ```
    pub fn parse_single(value: &str) -> Result<PropagationContext, B3Error> {
        let value = value.trim_matches([' ', '\t']);
        let fields: Vec<&str> = value.split('-').collect();
        if fields.len() == 1 {
            let decision = sampling_state(value, false).ok_or(B3Error::Field("sampling state"))?;
            return Ok(PropagationContext {
                sampling_decision: Some(decision),
                ..Default::default()
            });
        }
        if fields.len() > 4 {
            return Err(B3Error::FieldCount(fields.len()));
        }
        let trace_id = parse_trace_id(fields[0])?;
        let span_id = parse_span_id(fields[1], "span id")?;
        let sampled = match fields.get(2) {
            Some(state) => sampling_state(state, false).ok_or(B3Error::Field("sampling state"))?,
            None => false,
        };
        if let Some(parent) = fields.get(3) {
            parse_span_id(parent, "parent span id")?;
        }
        Ok(context(trace_id, span_id, sampled))
    }

    /// Parses the `X-B3-*` headers of `carrier`; an empty context when none is there. Usable
    /// as a fuzz entry point.
    ///
    /// # Errors
    ///
    /// [`B3Error`] naming the malformed or missing header.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use threadline::propagation::B3Propagator;
    /// let headers = HashMap::from([
    ///     ("X-B3-TraceId".to_string(), "463ac35c9f6413ad48485a3953bb6124".to_string()),
    ///     ("X-B3-SpanId".to_string(), "a2fb4a1d1a96d312".to_string()),
    ///     ("X-B3-Flags".to_string(), "1".to_string()),
    /// ]);
    /// let span = B3Propagator::parse_multi(&headers).unwrap().span_context.unwrap();
    /// assert!(span.is_sampled()); // debug means sampled
    /// ```
    pub fn parse_multi(carrier: &dyn Extractor) -> Result<PropagationContext, B3Error> {
        let debug = match carrier.get(FLAGS).map(|f| f.trim_matches([' ', '\t'])) {
            None | Some("0") => false,
            Some("1") => true,
            Some(_) => return Err(B3Error::Field("X-B3-Flags")),
        };
        let sampled = match carrier.get(SAMPLED) {
            None => None,
            Some(state) => Some(sampling_state(state, true).ok_or(B3Error::Field("X-B3-Sampled"))?),
        };
        let decision = if debug { Some(true) } else { sampled };
        match (carrier.get(TRACE_ID), carrier.get(SPAN_ID)) {
            (None, None) => Ok(PropagationContext {
                sampling_decision: decision,
                ..Default::default()
            }),
            (Some(_), None) => Err(B3Error::Missing("X-B3-SpanId")),
            (None, Some(_)) => Err(B3Error::Missing("X-B3-TraceId")),
            (Some(trace), Some(span)) => {
                let trace_id = parse_trace_id(trace)?;
                let span_id = parse_span_id(span, "X-B3-SpanId")?;
                if let Some(parent) = carrier.get(PARENT_SPAN_ID) {
                    parse_span_id(parent, "X-B3-ParentSpanId")?;
                }
                Ok(context(trace_id, span_id, decision.unwrap_or(false)))
            }
        }
    }
}

fn context(trace_id: TraceId, span_id: SpanId, sampled: bool) -> PropagationContext {
    PropagationContext::new(
        SpanContext::new(
            trace_id,
            span_id,
            TraceOptions::default().with_sampled(sampled),
        )
        .with_from_header(true),
    )
}

/// `1`, `d` and (leniently, for `X-B3-Sampled`) `true` are sampled; `0` (`false`) is not.
fn sampling_state(state: &str, lenient: bool) -> Option<bool> {
    match state.trim_matches([' ', '\t']) {
        "1" | "d" => Some(true),
        "0" => Some(false),
        "true" if lenient => Some(true),
        "false" if lenient => Some(false),
        _ => None,
    }
}

fn parse_trace_id(text: &str) -> Result<TraceId, B3Error> {
    let text = text.trim_matches([' ', '\t']).as_bytes();
    if text.len() != 16 && text.len() != 32 {
        return Err(B3Error::Field("trace id"));
    }
    match parse_hex(text, 32, false) {
        None => Err(B3Error::Field("trace id")),
        Some(0) => Err(B3Error::ZeroId("trace id")),
        Some(id) => Ok(TraceId(id)),
    }
}

fn parse_span_id(text: &str, name: &'static str) -> Result<SpanId, B3Error> {
    let text = text.trim_matches([' ', '\t']).as_bytes();
    if text.len() != 16 {
        return Err(B3Error::Field(name));
    }
    match parse_hex(text, 16, false) {
        None => Err(B3Error::Field(name)),
        Some(0) => Err(B3Error::ZeroId(name)),
        Some(id) => Ok(SpanId(id as u64)),
    }
}

impl Propagator for B3Propagator {
    fn inject(&self, context: &PropagationContext, carrier: &mut dyn Injector) {
        let span = context.span_context.as_ref().filter(|s| s.is_valid());
        let sampled = |s: bool| if s { "1" } else { "0" };
        match (self.encoding, span) {
            (B3Encoding::Single, Some(span)) => carrier.set(
                B3,
                format!(
                    "{}-{}-{}",
                    span.trace_id(),
                    span.span_id(),
                    sampled(span.is_sampled())
                ),
            ),
            (B3Encoding::Multi, Some(span)) => {
                carrier.set(TRACE_ID, span.trace_id().to_string());
                carrier.set(SPAN_ID, span.span_id().to_string());
                carrier.set(SAMPLED, sampled(span.is_sampled()).to_string());
            }
            (B3Encoding::Single, None) if context.sampling_decision == Some(false) => {
                carrier.set(B3, "0".to_string());
            }
            (B3Encoding::Multi, None) if context.sampling_decision == Some(false) => {
                carrier.set(SAMPLED, "0".to_string());
            }
            (_, None) => {}
        }
    }

    fn extract(&self, carrier: &dyn Extractor) -> PropagationContext {
        if let Some(value) = carrier.get(B3) {
            match Self::parse_single(value) {
                Ok(cx) => return cx,
                Err(error) => reject(B3, value, &error),
            }
        }
        match Self::parse_multi(carrier) {
            Ok(cx) => cx,
            Err(error) => {
                reject("x-b3-*", &multi_summary(carrier), &error);
                PropagationContext::default()
            }
        }
    }

    fn fields(&self) -> Vec<String> {
        match self.encoding {
            B3Encoding::Single => vec![B3.to_string()],
            B3Encoding::Multi => [TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SAMPLED, FLAGS]
                .map(String::from)
                .to_vec(),
        }
    }
}

fn multi_summary(carrier: &dyn Extractor) -> String {
    [TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SAMPLED, FLAGS]
        .iter()
        .filter_map(|name| carrier.get(name).map(|v| format!("{name}: {v}")))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::propagation::test_support::{headers, remote_contexts};

    fn span(cx: PropagationContext) -> SpanContext {
        cx.span_context.expect("a span context")
    }

    #[test]
    fn single_header_readme_examples() {
        let cx = span(
            B3Propagator::parse_single(
                "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90",
            )
            .unwrap(),
        );
        assert_eq!(
            cx.trace_id().to_string(),
            "80f198ee56343ba864fe8b2a57d3eff7"
        );
        assert_eq!(cx.span_id().to_string(), "e457b5a2e4d86bd1");
        assert!(cx.is_sampled() && cx.from_header());
        // Without parent, with debug, with deferred sampling.
        assert!(span(
            B3Propagator::parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d")
                .unwrap()
        )
        .is_sampled());
        assert!(!span(
            B3Propagator::parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1")
                .unwrap()
        )
        .is_sampled());
        assert!(!span(
            B3Propagator::parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-0")
                .unwrap()
        )
        .is_sampled());
        // 64-bit trace id, left-padded.
        let cx = span(B3Propagator::parse_single("e457b5a2e4d86bd1-e457b5a2e4d86bd1-1").unwrap());
        assert_eq!(cx.trace_id(), TraceId(0xe457b5a2e4d86bd1));
        // Sampling state alone.
        for (state, decision) in [("0", false), ("1", true), ("d", true)] {
            let cx = B3Propagator::parse_single(state).unwrap();
            assert_eq!(cx.span_context, None);
            assert_eq!(cx.sampling_decision, Some(decision));
        }
    }

    #[test]
    fn multi_header_readme_examples() {
        let cx = span(
            B3Propagator::parse_multi(&headers(&[
                ("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7"),
                ("X-B3-ParentSpanId", "05e3ac9a4f6e3b90"),
                ("X-B3-SpanId", "e457b5a2e4d86bd1"),
                ("X-B3-Sampled", "1"),
            ]))
            .unwrap(),
        );
        assert_eq!(cx.span_id().to_string(), "e457b5a2e4d86bd1");
        assert!(cx.is_sampled());
        let base = [
            ("x-b3-traceid", "a3ce929d0e0e4736"),
            ("x-b3-spanid", "00f067aa0ba902b7"),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            B3Propagator::parse_multi(&headers(&all))
        };
        assert_eq!(
            span(with(&[]).unwrap()).trace_id(),
            TraceId(0xa3ce929d0e0e4736)
        );
        assert!(!span(with(&[]).unwrap()).is_sampled());
        assert!(span(with(&[("x-b3-sampled", "true")]).unwrap()).is_sampled());
        assert!(!span(with(&[("x-b3-sampled", "false")]).unwrap()).is_sampled());
        assert!(span(with(&[("x-b3-flags", "1")]).unwrap()).is_sampled());
        assert!(span(with(&[("x-b3-flags", "1"), ("x-b3-sampled", "0")]).unwrap()).is_sampled());
        let deny = B3Propagator::parse_multi(&headers(&[("x-b3-sampled", "0")])).unwrap();
        assert_eq!(
            (deny.span_context, deny.sampling_decision),
            (None, Some(false))
        );
        assert!(B3Propagator::parse_multi(&headers(&[])).unwrap().is_empty());
    }

    #[test]
    fn single_header_is_preferred_and_multi_is_the_fallback() {
        let carrier = headers(&[
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
            ("x-b3-traceid", "a3ce929d0e0e4736"),
            ("x-b3-spanid", "00f067aa0ba902b7"),
        ]);
        let cx = span(B3Propagator::multi().extract(&carrier));
        assert_eq!(cx.span_id().to_string(), "e457b5a2e4d86bd1");
        let carrier = headers(&[
            ("b3", "garbage"),
            ("x-b3-traceid", "a3ce929d0e0e4736"),
            ("x-b3-spanid", "00f067aa0ba902b7"),
        ]);
        let cx = span(B3Propagator::single().extract(&carrier));
        assert_eq!(cx.span_id().to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn malformed_inputs_are_rejected_with_a_reason() {
        use B3Error::*;
        let t = "80f198ee56343ba864fe8b2a57d3eff7";
        let s = "e457b5a2e4d86bd1";
        let single: Vec<(String, B3Error)> = vec![
            (String::new(), Field("sampling state")),
            ("2".into(), Field("sampling state")),
            (t.into(), Field("sampling state")),
            (format!("{t}-{s}-1-{s}-x"), FieldCount(5)),
            (format!("{}-{s}", &t[..31]), Field("trace id")),
            (format!("{}-{s}", &t[..20]), Field("trace id")),
            (format!("{}-{s}", "0".repeat(32)), ZeroId("trace id")),
            (format!("{t}-{}", &s[..15]), Field("span id")),
            (format!("{t}-0000000000000000"), ZeroId("span id")),
            (format!("{t}-{s}-x"), Field("sampling state")),
            (format!("{t}-{s}-true"), Field("sampling state")),
            (format!("{t}-{s}-1-zz"), Field("parent span id")),
            (
                format!("{t}-{s}-1-0000000000000000"),
                ZeroId("parent span id"),
            ),
            (format!("{t}-{s}-"), Field("sampling state")),
            (format!("g{}-{s}", &t[1..]), Field("trace id")),
            (format!("{t}-é{}", &s[2..]), Field("span id")),
        ];
        for (input, expected) in single {
            assert_eq!(
                B3Propagator::parse_single(&input),
                Err(expected),
                "{input:?}"
            );
            assert!(B3Propagator::single()
                .extract(&headers(&[("b3", &input)]))
                .span_context
                .is_none());
        }
        let multi: Vec<(Vec<(&str, &str)>, B3Error)> = vec![
            (vec![("x-b3-traceid", t)], Missing("X-B3-SpanId")),
            (vec![("x-b3-spanid", s)], Missing("X-B3-TraceId")),
            (
                vec![("x-b3-traceid", "xyz"), ("x-b3-spanid", s)],
                Field("trace id"),
            ),
            (
                vec![("x-b3-traceid", t), ("x-b3-spanid", "1")],
                Field("X-B3-SpanId"),
            ),
            (
                vec![
                    ("x-b3-traceid", t),
                    ("x-b3-spanid", s),
                    ("x-b3-sampled", "yes"),
                ],
                Field("X-B3-Sampled"),
            ),
            (
                vec![("x-b3-traceid", t), ("x-b3-spanid", s), ("x-b3-flags", "2")],
                Field("X-B3-Flags"),
            ),
            (
                vec![
                    ("x-b3-traceid", t),
                    ("x-b3-spanid", s),
                    ("x-b3-parentspanid", "0"),
                ],
                Field("X-B3-ParentSpanId"),
            ),
        ];
        for (input, expected) in multi {
            assert_eq!(
                B3Propagator::parse_multi(&headers(&input)),
                Err(expected),
                "{input:?}"
            );
            assert!(B3Propagator::multi().extract(&headers(&input)).is_empty());
        }
    }

    #[test]
    fn deny_round_trips() {
        for propagator in [B3Propagator::single(), B3Propagator::multi()] {
            let deny = PropagationContext {
                sampling_decision: Some(false),
                ..Default::default()
            };
            let mut carrier = HashMap::new();
            propagator.inject(&deny, &mut carrier);
            assert_eq!(propagator.extract(&carrier), deny);
        }
    }

    proptest! {
        #[test]
        fn round_trip(cx in remote_contexts(&[0, 1]), multi in any::<bool>()) {
            let propagator = if multi { B3Propagator::multi() } else { B3Propagator::single() };
            let mut carrier = HashMap::new();
            propagator.inject(&PropagationContext::new(cx.clone()), &mut carrier);
            prop_assert_eq!(propagator.extract(&carrier).span_context, Some(cx));
        }

        #[test]
        fn arbitrary_input_never_panics(
            single in "\\PC{0,80}",
            trace in "[0-9a-fA-F]{0,33}|\\PC{0,40}",
            span in "[0-9a-f]{0,17}|\\PC{0,20}",
            sampled in "\\PC{0,5}",
        ) {
            let _ = B3Propagator::single().extract(&headers(&[("b3", &single)]));
            let _ = B3Propagator::multi().extract(&headers(&[
                ("x-b3-traceid", &trace),
                ("x-b3-spanid", &span),
                ("x-b3-sampled", &sampled),
            ]));
        }
    }
}
