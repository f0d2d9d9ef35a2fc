//! The span context: what identifies a span and travels across process boundaries.

use std::fmt;
use std::sync::Arc;

use crate::id::{ParseIdError, SpanId, TraceId};

/// Trace options: the W3C `trace-flags` byte. Bit 0 is the sampled flag.
///
/// # Examples
///
/// ```
/// use threadline::TraceOptions;
/// assert!(TraceOptions::SAMPLED.is_sampled());
/// assert!(!TraceOptions::default().is_sampled());
/// assert_eq!(TraceOptions::from_byte(0x03).to_byte(), 0x03);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct TraceOptions(u8);

impl TraceOptions {
    /// Options with the sampled flag set.
    pub const SAMPLED: TraceOptions = TraceOptions(1);
    /// Options with no flag set.
    pub const NOT_SAMPLED: TraceOptions = TraceOptions(0);

    /// Options from the raw flags byte; unknown bits are kept so they can be forwarded.
    pub const fn from_byte(byte: u8) -> Self {
        TraceOptions(byte)
    }

    /// The raw flags byte.
    pub const fn to_byte(self) -> u8 {
        self.0
    }

    /// Whether the sampled flag is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & 1 == 1
    }

    /// These options with the sampled flag set or cleared.
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            TraceOptions(self.0 | 1)
        } else {
            TraceOptions(self.0 & !1)
        }
    }
}

/// Why a tracestate header value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceStateError {
    /// A list member is not of the form `key=value`.
    #[error("tracestate member {0:?} is not key=value")]
    Member(String),
    /// A key breaks the W3C key grammar.
    #[error("tracestate key {0:?} is invalid")]
    Key(String),
    /// A value breaks the W3C value grammar.
    #[error("tracestate value {0:?} is invalid")]
    Value(String),
    /// A key appears twice.
    #[error("tracestate key {0:?} appears more than once")]
    DuplicateKey(String),
    /// More than 32 list members.
    #[error("tracestate has {0} members, at most 32 are allowed")]
    TooManyMembers(usize),
}

/// W3C `tracestate`: an ordered list of vendor `key=value` pairs, shared cheaply between spans.
///
/// # Examples
///
/// ```
/// use threadline::TraceState;
/// let state = TraceState::from_header("rojo=00f067aa0ba902b7, congo=t61rcWkgMzE").unwrap();
/// assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
/// assert_eq!(state.to_header(), "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE");
/// assert!(TraceState::from_header("no-equals-sign").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct TraceState(Option<Arc<[(String, String)]>>);

impl TraceState {
    /// The empty tracestate.
    pub const EMPTY: TraceState = TraceState(None);

    /// Parses a `tracestate` header value.
    ///
    /// Empty list members are skipped, as the W3C specification requires.
    ///
    /// # Errors
    ///
    /// [`TraceStateError`] naming the first member, key or value that breaks the grammar, or the
    /// member count when it exceeds 32.
    pub fn from_header(header: &str) -> Result<Self, TraceStateError> {
        let mut members = Vec::new();
        for member in header.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            let (key, value) = member
                .split_once('=')
                .ok_or_else(|| TraceStateError::Member(member.to_string()))?;
            if !valid_key(key) {
                return Err(TraceStateError::Key(key.to_string()));
            }
            if !valid_value(value) {
                return Err(TraceStateError::Value(value.to_string()));
            }
            members.push((key.to_string(), value.to_string()));
        }
        if members.len() > 32 {
            return Err(TraceStateError::TooManyMembers(members.len()));
        }
        Ok(Self::from_members(members))
    }

    fn from_members(members: Vec<(String, String)>) -> Self {
        if members.is_empty() {
            TraceState(None)
        } else {
            TraceState(Some(members.into()))
        }
    }

    /// The value stored under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.members()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A copy with `key` set to `value`, moved to the front as the W3C rules for updates say.
    ///
    /// # Errors
    ///
    /// [`TraceStateError`] when the key or value breaks the grammar.
    pub fn insert(&self, key: &str, value: &str) -> Result<Self, TraceStateError> {
        if !valid_key(key) {
            return Err(TraceStateError::Key(key.to_string()));
        }
        if !valid_value(value) {
            return Err(TraceStateError::Value(value.to_string()));
        }
        let mut members = vec![(key.to_string(), value.to_string())];
        members.extend(self.members().iter().filter(|(k, _)| k != key).cloned());
        members.truncate(32);
        Ok(Self::from_members(members))
    }

    /// The members, in order.
    pub fn members(&self) -> &[(String, String)] {
        self.0.as_deref().unwrap_or(&[])
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The header value: members joined by `,`.
    pub fn to_header(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.members().iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.to_header())
    }
}

fn valid_key(key: &str) -> bool {
    let simple = |s: &str, max: usize| {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= max
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && b.iter().all(|&c| {
                c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || matches!(c, b'_' | b'-' | b'*' | b'/')
            })
    };
    match key.split_once('@') {
        None => simple(key, 256),
        Some((tenant, system)) => simple(tenant, 241) && simple(system, 14),
    }
}

fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    !b.is_empty()
        && b.len() <= 256
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b[b.len() - 1] != b' '
}

/// Identifies a span within a trace: the seed API's `SpanContext`.
///
/// A context is either made locally (by starting a span) or extracted from an incoming request,
/// in which case [`SpanContext::from_header`] is true and samplers treat it as a remote parent.
///
/// # Examples
///
/// ```
/// use threadline::{SpanContext, TraceOptions};
/// let ctx = SpanContext::from_hex(
///     "4bf92f3577b34da6a3ce929d0e0e4736",
///     "00f067aa0ba902b7",
///     TraceOptions::SAMPLED,
/// )
/// .unwrap();
/// assert_eq!(ctx.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(ctx.is_sampled());
/// assert!(!ctx.from_header());
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    trace_options: TraceOptions,
    tracestate: TraceState,
    from_header: bool,
}

impl SpanContext {
    /// A context from its parts. It is valid only when both ids are non-zero.
    pub fn new(trace_id: TraceId, span_id: SpanId, trace_options: TraceOptions) -> Self {
        SpanContext {
            trace_id,
            span_id,
            trace_options,
            tracestate: TraceState::EMPTY,
            from_header: false,
        }
    }

    /// A context from 32 and 16 hex digits.
    ///
    /// # Errors
    ///
    /// [`ParseIdError`] when an id is malformed or all zeros.
    pub fn from_hex(
        trace_id: &str,
        span_id: &str,
        trace_options: TraceOptions,
    ) -> Result<Self, ParseIdError> {
        Ok(SpanContext::new(
            TraceId::from_hex(trace_id)?,
            SpanId::from_hex(span_id)?,
            trace_options,
        ))
    }

    /// The invalid context: all-zero ids.
    pub const INVALID: SpanContext = SpanContext {
        trace_id: TraceId::INVALID,
        span_id: SpanId::INVALID,
        trace_options: TraceOptions::NOT_SAMPLED,
        tracestate: TraceState::EMPTY,
        from_header: false,
    };

    /// This context marked as extracted from a request header (a remote parent).
    pub fn with_from_header(mut self, from_header: bool) -> Self {
        self.from_header = from_header;
        self
    }

    /// This context with another tracestate.
    pub fn with_tracestate(mut self, tracestate: TraceState) -> Self {
        self.tracestate = tracestate;
        self
    }

    /// The trace id.
    pub fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    pub fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace options (flags).
    pub fn trace_options(&self) -> TraceOptions {
        self.trace_options
    }

    /// The W3C tracestate.
    pub fn tracestate(&self) -> &TraceState {
        &self.tracestate
    }

    /// Whether the context came from a request header rather than a local span.
    pub fn from_header(&self) -> bool {
        self.from_header
    }

    /// Whether the sampled flag is set.
    pub fn is_sampled(&self) -> bool {
        self.trace_options.is_sampled()
    }

    /// Whether both ids are non-zero.
    pub fn is_valid(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracestate_follows_w3c_grammar() {
        assert!(TraceState::from_header("a=1,,b=2").is_ok());
        assert!(TraceState::from_header("tenant@system=x").is_ok());
        assert!(matches!(
            TraceState::from_header("UPPER=1"),
            Err(TraceStateError::Key(_))
        ));
        assert!(matches!(
            TraceState::from_header("a=b=c"),
            Err(TraceStateError::Value(_))
        ));
        let many = (0..33)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(
            TraceState::from_header(&many),
            Err(TraceStateError::TooManyMembers(33))
        );
        let updated = TraceState::from_header("a=1,b=2")
            .unwrap()
            .insert("b", "3")
            .unwrap();
        assert_eq!(updated.to_header(), "b=3,a=1");
    }

    #[test]
    fn invalid_context_is_not_valid() {
        assert!(!SpanContext::INVALID.is_valid());
        assert!(SpanContext::from_hex(
            "0".repeat(32).as_str(),
            "00f067aa0ba902b7",
            TraceOptions::SAMPLED
        )
        .is_err());
    }
}
