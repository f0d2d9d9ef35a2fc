//! Context propagation: carrying a span context and baggage across process boundaries.
//!
//! A [`Propagator`] writes a [`PropagationContext`] (a span context, plus [`Baggage`]) into a
//! carrier such as a map of request headers ([`Injector`]), and reads one back on the other
//! side ([`Extractor`]). The extracted span context is *remote*
//! ([`SpanContext::from_header`] is true), so the default parent-based sampler follows its
//! sampled flag.
//!
//! | format | type | header(s) | `OTEL_PROPAGATORS` name |
//! |---|---|---|---|
//! | W3C Trace Context | [`TraceContextPropagator`] | `traceparent`, `tracestate` | `tracecontext` |
//! | W3C Baggage | [`BaggagePropagator`] | `baggage` | `baggage` |
//! | B3 single header | [`B3Propagator::single`] | `b3` (extracts the multi form too) | `b3` |
//! | B3 multiple headers | [`B3Propagator::multi`] | `x-b3-traceid`, `x-b3-spanid`, `x-b3-parentspanid`, `x-b3-sampled`, `x-b3-flags` (extracts `b3` too) | `b3multi` |
//! | Jaeger | [`JaegerPropagator`] | `uber-trace-id`, `uberctx-{key}` | `jaeger` |
//! | Google Cloud Trace | [`CloudTracePropagator`] | `x-cloud-trace-context` | `cloudtrace` (also `gcp`, `gcp_trace`) |
//! | OpenCensus binary | [`BinaryPropagator`] | `grpc-trace-bin` (base64 in text carriers) | `ocbinary` (also `binary`) |
//! | several at once | [`CompositePropagator`] | all of its members' | a comma-separated list |
//! | nothing | an empty [`CompositePropagator`] | none | `none` |
//!
//! `OTEL_PROPAGATORS` (default `tracecontext,baggage`) chooses the propagator of tracers made
//! by [`crate::init`] and [`crate::TracerBuilder::from_env`]; unknown names get a warning and
//! are skipped. [`propagator`] is the global tracer's propagator, and [`inject_current`] and
//! [`extract`] use it.
//!
//! Malformed headers never fail a request: they are ignored, and the reason is printed at
//! `THREADLINE_LOG=debug`. Each format also has a parsing function that returns the reason
//! ([`TraceContextPropagator::parse_traceparent`], [`B3Propagator::parse_single`],
//! [`B3Propagator::parse_multi`], [`JaegerPropagator::parse_uber_trace_id`],
//! [`CloudTracePropagator::parse_header`], [`from_bytes`], [`Baggage::from_header_lossy`]).
//!
//! # Examples
//!
//! A client injects the current span; a server extracts it and continues the trace:
//!
//! ```
//! use std::collections::HashMap;
//! use threadline::propagation::{self, PropagationContext};
//!
//! let (tracer, spans) = threadline::Tracer::builder().in_memory();
//! let _tracing = threadline::init_with(tracer);
//!
//! // Client side: a span, and the headers of its outgoing request.
//! let mut headers = HashMap::new();
//! let client_span_id = {
//!     let client = threadline::span("call backend");
//!     propagation::inject_current(&mut headers);
//!     client.span_id()
//! };
//! assert!(headers["traceparent"].starts_with("00-"));
//!
//! // Server side: extract, attach, and make the server span.
//! let incoming = propagation::extract(&headers);
//! {
//!     let _remote = incoming.attach();
//!     let _server = threadline::span("handle request");
//! }
//! threadline::flush(std::time::Duration::from_secs(5)).unwrap();
//! let server = spans.spans().into_iter().find(|s| s.name == "handle request").unwrap();
//! assert_eq!(server.parent_span_id, Some(client_span_id));
//! assert!(server.parent_is_remote);
//! ```

mod b3;
mod baggage;
mod binary;
mod carrier;
mod cloud_trace;
mod composite;
mod env;
mod jaeger;
mod trace_context;
mod w3c_baggage;

use std::fmt;
use std::marker::PhantomData;

use crate::config::percent_decode;
use crate::context::{SpanContext, TraceOptions};
use crate::id::{SpanId, TraceId};
use crate::span::ContextGuard;

pub use b3::{B3Encoding, B3Error, B3Propagator};
pub use baggage::{Baggage, BaggageEntry, BaggageError, BaggageGuard, MAX_BYTES, MAX_ENTRIES};
pub use binary::{from_bytes, to_bytes, BinaryFormatError, BinaryPropagator};
pub use carrier::{Extractor, Injector};
pub use cloud_trace::{CloudTraceError, CloudTracePropagator};
pub use composite::CompositePropagator;
pub use env::{propagator_by_name, propagator_from_lookup, propagators_from_env, PROPAGATOR_NAMES};
pub use jaeger::{JaegerError, JaegerPropagator};
pub use trace_context::{TraceContextPropagator, TraceparentError};
pub use w3c_baggage::BaggagePropagator;

pub(crate) use env::{composite_from_names, parse_names};

/// What a propagator carries: a span context, a sampling decision that came without ids, and
/// baggage.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{Baggage, PropagationContext};
/// use threadline::{SpanContext, TraceOptions};
/// let span = SpanContext::from_hex(
///     "4bf92f3577b34da6a3ce929d0e0e4736",
///     "00f067aa0ba902b7",
///     TraceOptions::SAMPLED,
/// )
/// .unwrap();
/// let mut baggage = Baggage::new();
/// baggage.insert("user", "ada").unwrap();
/// let cx = PropagationContext::new(span.clone()).with_baggage(baggage);
/// assert_eq!(cx.span_context, Some(span));
/// assert_eq!(cx.baggage.get("user"), Some("ada"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PropagationContext {
    /// The span context, when the carrier had a valid one (extracted ones are remote).
    pub span_context: Option<SpanContext>,
    /// A sampling decision that arrived without ids, such as B3's `b3: 0` ("deny"); `None`
    /// whenever [`PropagationContext::span_context`] is set.
    pub sampling_decision: Option<bool>,
    /// The baggage.
    pub baggage: Baggage,
}

impl PropagationContext {
    /// A context carrying `span_context` (nothing when it is invalid) and no baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::PropagationContext;
    /// assert_eq!(PropagationContext::new(threadline::SpanContext::INVALID).span_context, None);
    /// ```
    pub fn new(span_context: SpanContext) -> Self {
        PropagationContext {
            span_context: span_context.is_valid().then_some(span_context),
            sampling_decision: None,
            baggage: Baggage::default(),
        }
    }

    /// The current span's context and the current baggage of this thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{Baggage, PropagationContext};
    /// let mut baggage = Baggage::new();
    /// baggage.insert("tenant", "acme").unwrap();
    /// let _guard = baggage.attach();
    /// let cx = PropagationContext::current();
    /// assert_eq!(cx.baggage.get("tenant"), Some("acme"));
    /// assert_eq!(cx.span_context, None); // no span is current
    /// ```
    pub fn current() -> Self {
        PropagationContext::new(crate::global::current_context()).with_baggage(Baggage::current())
    }

    /// This context with `baggage` instead of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{Baggage, PropagationContext};
    /// let cx = PropagationContext::default().with_baggage(Baggage::new());
    /// assert!(cx.baggage.is_empty());
    /// ```
    pub fn with_baggage(mut self, baggage: Baggage) -> Self {
        self.baggage = baggage;
        self
    }

    /// Whether there is nothing in it: no span context, no sampling decision, no baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadline::propagation::PropagationContext::default().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.span_context.is_none() && self.sampling_decision.is_none() && self.baggage.is_empty()
    }

    /// Makes this context current on this thread until the guard drops: its span context
    /// becomes the parent of new spans (through the global tracer) and its baggage the
    /// current baggage.
    ///
    /// A "deny" decision without ids (`sampling_decision == Some(false)`, from `b3: 0`)
    /// makes an unsampled trace current, so nothing is recorded under it. A decision to
    /// sample without ids has no effect: the sampler decides as for a new trace.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use threadline::propagation::{B3Propagator, Propagator};
    /// let headers = HashMap::from([("b3".to_string(), "0".to_string())]);
    /// let cx = B3Propagator::single().extract(&headers);
    /// let _tracing = threadline::init_with(threadline::Tracer::builder().in_memory().0);
    /// let _denied = cx.attach();
    /// assert!(!threadline::span("not recorded").is_recording());
    /// ```
    pub fn attach(&self) -> PropagationGuard {
        let context = match (&self.span_context, self.sampling_decision) {
            (Some(span_context), _) => Some(crate::global::attach(span_context)),
            (None, Some(false)) => Some(crate::global::attach(&SpanContext::new(
                TraceId::random(),
                SpanId::random(),
                TraceOptions::NOT_SAMPLED,
            ))),
            (None, _) => None,
        };
        PropagationGuard {
            _baggage: self.baggage.clone().attach(),
            _context: context,
            _not_send: PhantomData,
        }
    }
}

impl From<SpanContext> for PropagationContext {
    fn from(span_context: SpanContext) -> Self {
        PropagationContext::new(span_context)
    }
}

/// Keeps an extracted context current on this thread; see [`PropagationContext::attach`].
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// let headers = HashMap::from([(
///     "traceparent".to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
/// )]);
/// let guard = threadline::propagation::extract(&headers).attach();
/// assert_eq!(
///     threadline::current_context().trace_id().to_string(),
///     "4bf92f3577b34da6a3ce929d0e0e4736",
/// );
/// drop(guard);
/// assert!(!threadline::current_context().is_valid());
/// ```
#[must_use = "the context stops being current when the guard is dropped"]
pub struct PropagationGuard {
    _baggage: BaggageGuard,
    _context: Option<ContextGuard>,
    _not_send: PhantomData<*const ()>,
}

impl fmt::Debug for PropagationGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropagationGuard").finish_non_exhaustive()
    }
}

/// Writes a context into a carrier and reads one from it, in one wire format.
///
/// Implementations never panic and never fail: a malformed header is ignored (with its reason
/// printed at `THREADLINE_LOG=debug`), and extraction yields what was valid.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::{Propagator, PropagationContext, TraceContextPropagator};
/// use threadline::{SpanContext, TraceOptions};
/// let cx = PropagationContext::new(
///     SpanContext::from_hex("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", TraceOptions::SAMPLED)
///         .unwrap(),
/// );
/// let mut headers = HashMap::new();
/// TraceContextPropagator.inject(&cx, &mut headers);
/// assert_eq!(headers["traceparent"], "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// let back = TraceContextPropagator.extract(&headers);
/// assert!(back.span_context.unwrap().from_header());
/// assert_eq!(TraceContextPropagator.fields(), ["traceparent", "tracestate"]);
/// ```
pub trait Propagator: Send + Sync + fmt::Debug + 'static {
    /// Writes `context` into `carrier`; writes nothing for the parts it has not got (an
    /// invalid span context, empty baggage).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use threadline::propagation::{JaegerPropagator, Propagator, PropagationContext};
    /// let mut headers = HashMap::new();
    /// JaegerPropagator.inject(&PropagationContext::default(), &mut headers);
    /// assert!(headers.is_empty());
    /// ```
    fn inject(&self, context: &PropagationContext, carrier: &mut dyn Injector);

    /// Reads a context from `carrier`. The span context, when there is a valid one, is marked
    /// remote ([`SpanContext::from_header`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use threadline::propagation::{Propagator, TraceContextPropagator};
    /// let garbage = HashMap::from([("traceparent".to_string(), "garbage".to_string())]);
    /// assert!(TraceContextPropagator.extract(&garbage).is_empty());
    /// ```
    fn extract(&self, carrier: &dyn Extractor) -> PropagationContext;

    /// The header names this propagator writes (lowercase); prefixes such as Jaeger's
    /// `uberctx-` are not listed.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{BinaryPropagator, Propagator};
    /// assert_eq!(BinaryPropagator.fields(), ["grpc-trace-bin"]);
    /// ```
    fn fields(&self) -> Vec<String>;
}

/// The global tracer's propagator (`OTEL_PROPAGATORS` for [`crate::init`]), or W3C Trace
/// Context plus W3C Baggage when no global tracer was set.
///
/// # Examples
///
/// ```
/// let fields = threadline::propagation::propagator().fields();
/// assert!(fields.contains(&"traceparent".to_string()));
/// ```
pub fn propagator() -> &'static dyn Propagator {
    crate::global::tracer().propagator()
}

/// Writes the current span's context and the current baggage into `carrier` with the global
/// propagator.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// let _tracing = threadline::init_with(threadline::Tracer::builder().in_memory().0);
/// let _span = threadline::span("outgoing");
/// let mut headers = HashMap::new();
/// threadline::propagation::inject_current(&mut headers);
/// assert!(headers.contains_key("traceparent"));
/// ```
pub fn inject_current(carrier: &mut dyn Injector) {
    propagator().inject(&PropagationContext::current(), carrier);
}

/// Reads a context from `carrier` with the global propagator.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// let headers = HashMap::from([(
///     "traceparent".to_string(),
///     "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_string(),
/// )]);
/// let cx = threadline::propagation::extract(&headers);
/// assert_eq!(cx.span_context.unwrap().span_id().to_string(), "00f067aa0ba902b7");
/// ```
pub fn extract(carrier: &dyn Extractor) -> PropagationContext {
    propagator().extract(carrier)
}

/// Prints why a header was ignored, at debug level.
fn reject(header: &str, value: &str, error: &dyn fmt::Display) {
    let mut end = value.len().min(256);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let ellipsis = if end < value.len() { "..." } else { "" };
    crate::diag::debug(format_args!(
        "ignoring malformed {header} header, value = {:?}{ellipsis}, error = {error}",
        &value[..end]
    ));
}

/// Reads `header` from the carrier and parses it with `parse`; `None` when the header is absent
/// or rejected (a rejection is noted by [`reject`]).
fn extract_header<E: fmt::Display>(
    carrier: &dyn Extractor,
    header: &str,
    parse: impl FnOnce(&str) -> Result<SpanContext, E>,
) -> Option<SpanContext> {
    let value = carrier.get(header)?;
    parse(value)
        .map_err(|error| reject(header, value, &error))
        .ok()
}

/// Parses 1 to `max_digits` hex digits (at most 32) into a number; `lowercase_only` rejects
/// `A-F`.
fn parse_hex(digits: &[u8], max_digits: usize, lowercase_only: bool) -> Option<u128> {
    if digits.is_empty() || digits.len() > max_digits.min(32) {
        return None;
    }
    let mut value: u128 = 0;
    for &c in digits {
        if lowercase_only && c.is_ascii_uppercase() {
            return None;
        }
        value = (value << 4) | crate::id::hex_value(c)? as u128;
    }
    Some(value)
}

/// Percent-encodes everything outside the W3C baggage-octet set, `%` itself, and `+` (which
/// form-style decoders, OpenTelemetry Python's among them, would read as a space).
fn percent_encode(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        let plain = matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
            && b != b'%'
            && b != b'+';
        if plain {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use crate::context::{SpanContext, TraceOptions};
    use crate::id::{SpanId, TraceId};

    /// A carrier holding `pairs`.
    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Random valid remote contexts with the given flag bytes.
    pub(crate) fn remote_contexts(flags: &'static [u8]) -> impl Strategy<Value = SpanContext> {
        (1..=u128::MAX, 1..=u64::MAX, proptest::sample::select(flags)).prop_map(
            |(trace, span, flags)| {
                SpanContext::new(TraceId(trace), SpanId(span), TraceOptions::from_byte(flags))
                    .with_from_header(true)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parsing_bounds_and_case() {
        assert_eq!(parse_hex(b"ff", 2, true), Some(255));
        assert_eq!(parse_hex(b"FF", 2, true), None);
        assert_eq!(parse_hex(b"FF", 2, false), Some(255));
        assert_eq!(parse_hex(b"", 2, false), None);
        assert_eq!(parse_hex(b"123", 2, false), None);
        assert_eq!(parse_hex(&[b'f'; 33], 40, false), None);
        assert_eq!(parse_hex(&[b'f'; 32], 32, false), Some(u128::MAX));
        assert_eq!(parse_hex("é".as_bytes(), 4, false), None);
    }

    #[test]
    fn percent_coding_round_trips() {
        for text in ["plain", "a b,c;d=e%f\"g\\h+i", "é ☃", ""] {
            let mut encoded = String::new();
            percent_encode(text, &mut encoded);
            assert!(!encoded.contains([' ', ',', ';', '"', '\\', '+']));
            assert_eq!(percent_decode(&encoded).as_deref(), Some(text));
        }
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn rejection_message_is_cut_at_a_char_boundary() {
        reject("x", &"é".repeat(300), &"reason");
    }
}
