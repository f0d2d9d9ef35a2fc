//! W3C Baggage: the `baggage` header.

use super::{reject, Baggage, Extractor, Injector, PropagationContext, Propagator};

const BAGGAGE: &str = "baggage";

/// W3C Baggage (`baggage` header). Carries only baggage, never a span context.
///
/// Extraction keeps every valid member (see [`Baggage::from_header_lossy`]); a malformed one
/// or one over the limits is dropped with its reason printed at debug level. Properties are
/// kept verbatim and injected again.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::{BaggagePropagator, Propagator};
/// let headers = HashMap::from([("baggage".to_string(), "userId=alice,serverNode=DF%2028".to_string())]);
/// let cx = BaggagePropagator.extract(&headers);
/// assert_eq!(cx.baggage.get("serverNode"), Some("DF 28"));
/// assert_eq!(cx.span_context, None);
///
/// let mut out = HashMap::new();
/// BaggagePropagator.inject(&cx, &mut out);
/// assert_eq!(out["baggage"], "userId=alice,serverNode=DF%2028");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct BaggagePropagator;

impl Propagator for BaggagePropagator {
    fn inject(&self, context: &PropagationContext, carrier: &mut dyn Injector) {
        if !context.baggage.is_empty() {
            carrier.set(BAGGAGE, context.baggage.to_header());
        }
    }

    fn extract(&self, carrier: &dyn Extractor) -> PropagationContext {
        let Some(value) = carrier.get(BAGGAGE) else {
            return PropagationContext::default();
        };
        let (baggage, errors) = Baggage::from_header_lossy(value);
        for error in &errors {
            reject(BAGGAGE, value, error);
        }
        PropagationContext::default().with_baggage(baggage)
    }

    fn fields(&self) -> Vec<String> {
        vec![BAGGAGE.to_string()]
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn round_trip(entries in proptest::collection::vec(("[a-zA-Z0-9_.-]{1,12}", "\\PC{0,20}"), 0..10)) {
            let mut baggage = Baggage::new();
            for (k, v) in &entries {
                baggage.insert(k.clone(), v.clone()).unwrap();
            }
            let mut carrier = HashMap::new();
            BaggagePropagator.inject(&PropagationContext::default().with_baggage(baggage.clone()), &mut carrier);
            prop_assert_eq!(BaggagePropagator.extract(&carrier).baggage, baggage);
        }

        #[test]
        fn arbitrary_input_never_panics(value in "\\PC{0,200}") {
            let carrier = HashMap::from([("baggage".to_string(), value)]);
            let _ = BaggagePropagator.extract(&carrier);
        }
    }
}
