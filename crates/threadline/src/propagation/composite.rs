//! Several propagators acting as one.

use super::{
    BaggagePropagator, Extractor, Injector, PropagationContext, Propagator, TraceContextPropagator,
};

/// Runs several propagators as one: `OTEL_PROPAGATORS=tracecontext,baggage,b3`.
///
/// Injection runs every member in order. Extraction asks every member and takes the span
/// context of the first one that found a valid one (and, failing that, the first sampling
/// decision without ids); baggage is merged, an earlier member's value winning for a key
/// several carry. An empty composite propagates nothing (`OTEL_PROPAGATORS=none`).
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::{B3Propagator, CompositePropagator, Propagator, TraceContextPropagator};
/// let propagator = CompositePropagator::new()
///     .with(TraceContextPropagator)
///     .with(B3Propagator::multi());
/// let headers = HashMap::from([
///     ("x-b3-traceid".to_string(), "463ac35c9f6413ad48485a3953bb6124".to_string()),
///     ("x-b3-spanid".to_string(), "a2fb4a1d1a96d312".to_string()),
///     ("x-b3-sampled".to_string(), "1".to_string()),
/// ]);
/// let cx = propagator.extract(&headers);
/// let mut out = HashMap::new();
/// propagator.inject(&cx, &mut out);
/// assert_eq!(out["traceparent"], "00-463ac35c9f6413ad48485a3953bb6124-a2fb4a1d1a96d312-01");
/// assert_eq!(out["x-b3-spanid"], "a2fb4a1d1a96d312");
/// ```
#[derive(Debug, Default)]
pub struct CompositePropagator {
    members: Vec<Box<dyn Propagator>>,
}

impl CompositePropagator {
    /// An empty composite, which propagates nothing until members are added.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadline::propagation::CompositePropagator::new().is_empty());
    /// ```
    pub fn new() -> Self {
        CompositePropagator::default()
    }

    /// OpenTelemetry's default: W3C Trace Context, then W3C Baggage.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{CompositePropagator, Propagator};
    /// assert_eq!(CompositePropagator::w3c().fields(), ["traceparent", "tracestate", "baggage"]);
    /// ```
    pub fn w3c() -> Self {
        CompositePropagator::new()
            .with(TraceContextPropagator)
            .with(BaggagePropagator)
    }

    /// This composite with `propagator` added last.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{CompositePropagator, JaegerPropagator};
    /// assert_eq!(CompositePropagator::new().with(JaegerPropagator).len(), 1);
    /// ```
    pub fn with(mut self, propagator: impl Propagator) -> Self {
        self.push(Box::new(propagator));
        self
    }

    /// Adds a boxed propagator last.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{CompositePropagator, JaegerPropagator};
    /// let mut composite = CompositePropagator::new();
    /// composite.push(Box::new(JaegerPropagator));
    /// assert_eq!(composite.len(), 1);
    /// ```
    pub fn push(&mut self, propagator: Box<dyn Propagator>) {
        self.members.push(propagator);
    }

    /// The number of members.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadline::propagation::CompositePropagator::w3c().len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!threadline::propagation::CompositePropagator::w3c().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

impl Propagator for CompositePropagator {
    fn inject(&self, context: &PropagationContext, carrier: &mut dyn Injector) {
        for member in &self.members {
            member.inject(context, carrier);
        }
    }

    fn extract(&self, carrier: &dyn Extractor) -> PropagationContext {
        let mut merged = PropagationContext::default();
        for member in &self.members {
            let found = member.extract(carrier);
            if merged.span_context.is_none() {
                if let Some(span) = found.span_context.filter(|s| s.is_valid()) {
                    merged.span_context = Some(span);
                    merged.sampling_decision = None;
                } else if merged.sampling_decision.is_none() {
                    merged.sampling_decision = found.sampling_decision;
                }
            }
            for entry in &found.baggage {
                if merged.baggage.get(entry.key()).is_none() {
                    // Limits were checked by the member; a merge over them drops the rest.
                    let _ = merged.baggage.insert_with_properties(
                        entry.key(),
                        entry.value(),
                        entry.properties(),
                    );
                }
            }
        }
        merged
    }

    fn fields(&self) -> Vec<String> {
        let mut fields: Vec<String> = Vec::new();
        for field in self.members.iter().flat_map(|m| m.fields()) {
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::propagation::test_support::headers;
    use crate::propagation::{B3Propagator, JaegerPropagator};

    #[test]
    fn first_valid_context_wins_and_baggage_merges() {
        let composite = CompositePropagator::w3c()
            .with(B3Propagator::single())
            .with(JaegerPropagator);
        let carrier = headers(&[
            ("traceparent", "00-zz-broken"),
            ("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"),
            ("uber-trace-id", "1:2:0:1"),
            ("baggage", "user=w3c"),
            ("uberctx-user", "jaeger"),
            ("uberctx-tier", "gold"),
        ]);
        let cx = composite.extract(&carrier);
        assert_eq!(
            cx.span_context.unwrap().span_id().to_string(),
            "e457b5a2e4d86bd1"
        );
        assert_eq!(cx.baggage.get("user"), Some("w3c"));
        assert_eq!(cx.baggage.get("tier"), Some("gold"));
    }

    #[test]
    fn a_deny_decision_is_kept_only_without_a_context() {
        let composite = CompositePropagator::new()
            .with(B3Propagator::single())
            .with(TraceContextPropagator);
        let deny = composite.extract(&headers(&[("b3", "0")]));
        assert_eq!(deny.sampling_decision, Some(false));
        let both = composite.extract(&headers(&[
            ("b3", "0"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ]));
        assert!(both.span_context.is_some());
        assert_eq!(both.sampling_decision, None);
    }

    #[test]
    fn empty_composite_propagates_nothing() {
        let none = CompositePropagator::new();
        let carrier = headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        let cx = none.extract(&carrier);
        assert!(cx.is_empty());
        let mut out = HashMap::new();
        none.inject(&TraceContextPropagator.extract(&carrier), &mut out);
        assert!(out.is_empty());
        assert!(none.fields().is_empty());
    }
}
