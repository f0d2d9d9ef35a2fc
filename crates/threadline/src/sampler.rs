//! Sampling: which traces are recorded.
//!
//! A sampler is asked once per trace in each process: for a root span, and for a span whose
//! parent came from another process. Spans with a parent in this process follow the parent's
//! decision, so a trace is never cut in half.

use std::fmt;
use std::sync::Arc;

use crate::context::SpanContext;
use crate::data::SpanKind;
use crate::id::TraceId;

/// What a sampler knows when it decides.
#[derive(Debug)]
pub struct SamplingParams<'a> {
    /// The trace the new span belongs to (fresh for a root span).
    pub trace_id: TraceId,
    /// The remote parent, if the span continues a trace from another process.
    pub parent: Option<&'a SpanContext>,
    /// The span name.
    pub name: &'a str,
    /// The span kind.
    pub kind: SpanKind,
}

/// Decides whether a trace is recorded (the seed API's `Sampler.should_sample`).
///
/// # Examples
///
/// A custom sampler that keeps every server span:
///
/// ```
/// use threadline::{Sampler, SamplingParams, SpanKind};
/// #[derive(Debug)]
/// struct ServersOnly;
/// impl Sampler for ServersOnly {
///     fn should_sample(&self, params: &SamplingParams<'_>) -> bool {
///         params.kind == SpanKind::Server
///     }
///     fn description(&self) -> String {
///         "ServersOnly".into()
///     }
/// }
/// ```
pub trait Sampler: Send + Sync + fmt::Debug + 'static {
    /// Whether to record the span described by `params`.
    fn should_sample(&self, params: &SamplingParams<'_>) -> bool;

    /// A short description, e.g. `TraceIdRatioBased{0.5}`.
    fn description(&self) -> String;
}

/// Records every trace.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOnSampler;

impl Sampler for AlwaysOnSampler {
    fn should_sample(&self, _: &SamplingParams<'_>) -> bool {
        true
    }
    fn description(&self) -> String {
        "AlwaysOnSampler".into()
    }
}

/// Records no trace.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOffSampler;

impl Sampler for AlwaysOffSampler {
    fn should_sample(&self, _: &SamplingParams<'_>) -> bool {
        false
    }
    fn description(&self) -> String {
        "AlwaysOffSampler".into()
    }
}

/// Records a fixed fraction of traces, decided from the trace id alone so that every service
/// in a trace decides alike.
///
/// The rule is OpenTelemetry's `TraceIdRatioBased`: a trace is sampled when the low 64 bits of
/// its id are below `rate * 2^64`.
///
/// # Examples
///
/// ```
/// use threadline::{ProbabilitySampler, Sampler, SamplingParams, SpanKind, TraceId};
/// let sampler = ProbabilitySampler::new(0.5);
/// let params = |id| SamplingParams { trace_id: TraceId(id), parent: None, name: "x", kind: SpanKind::Internal };
/// assert!(sampler.should_sample(&params(1)));
/// assert!(!sampler.should_sample(&params(u64::MAX as u128)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ProbabilitySampler {
    rate: f64,
    bound: u64,
    always: bool,
}

impl ProbabilitySampler {
    /// A sampler for `rate`, clamped to `0.0..=1.0` (NaN counts as 0).
    pub fn new(rate: f64) -> Self {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        ProbabilitySampler {
            rate,
            bound: (rate * 18_446_744_073_709_551_616.0) as u64,
            always: rate >= 1.0,
        }
    }

    /// The configured rate.
    pub fn rate(&self) -> f64 {
        self.rate
    }
}

impl Default for ProbabilitySampler {
    /// OpenCensus' default rate, 1 in 10,000.
    fn default() -> Self {
        ProbabilitySampler::new(1e-4)
    }
}

impl Sampler for ProbabilitySampler {
    fn should_sample(&self, params: &SamplingParams<'_>) -> bool {
        self.always || (params.trace_id.0 as u64) < self.bound
    }
    fn description(&self) -> String {
        format!("TraceIdRatioBased{{{}}}", self.rate)
    }
}

/// Follows a remote parent's sampled flag, and asks `root` for traces that start here. The
/// default sampler is `ParentBased(AlwaysOn)`.
#[derive(Debug, Clone)]
pub struct ParentBasedSampler {
    root: Arc<dyn Sampler>,
}

impl ParentBasedSampler {
    /// Parent-based, with `root` for root spans.
    pub fn new(root: impl Sampler) -> Self {
        ParentBasedSampler {
            root: Arc::new(root),
        }
    }
}

impl Default for ParentBasedSampler {
    fn default() -> Self {
        ParentBasedSampler::new(AlwaysOnSampler)
    }
}

impl Sampler for ParentBasedSampler {
    fn should_sample(&self, params: &SamplingParams<'_>) -> bool {
        match params.parent {
            Some(parent) if parent.is_valid() => parent.is_sampled(),
            _ => self.root.should_sample(params),
        }
    }
    fn description(&self) -> String {
        format!("ParentBased{{root:{}}}", self.root.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::TraceOptions;
    use crate::id::SpanId;

    fn params(trace_id: TraceId) -> SamplingParams<'static> {
        SamplingParams {
            trace_id,
            parent: None,
            name: "x",
            kind: SpanKind::Internal,
        }
    }

    #[test]
    fn probability_sampling_is_within_one_percent_over_100k_ids() {
        for rate in [0.01, 0.1, 0.25, 0.5, 0.9] {
            let sampler = ProbabilitySampler::new(rate);
            let n = 100_000;
            let hits = (0..n)
                .filter(|_| sampler.should_sample(&params(TraceId::random())))
                .count();
            let observed = hits as f64 / n as f64;
            assert!(
                (observed - rate).abs() <= 0.01,
                "rate {rate}: observed {observed}"
            );
        }
    }

    #[test]
    fn probability_decision_depends_only_on_the_trace_id() {
        let sampler = ProbabilitySampler::new(0.3);
        for _ in 0..1000 {
            let id = TraceId::random();
            let first = sampler.should_sample(&params(id));
            let again = ProbabilitySampler::new(0.3).should_sample(&SamplingParams {
                name: "other",
                kind: SpanKind::Server,
                ..params(id)
            });
            assert_eq!(first, again);
        }
    }

    #[test]
    fn extreme_rates() {
        assert!(ProbabilitySampler::new(1.0).should_sample(&params(TraceId(u128::MAX))));
        assert!(!ProbabilitySampler::new(0.0).should_sample(&params(TraceId(0))));
        assert!(!ProbabilitySampler::new(f64::NAN).should_sample(&params(TraceId(5))));
        assert_eq!(ProbabilitySampler::new(7.0).rate(), 1.0);
    }

    #[test]
    fn parent_based_follows_the_remote_flag() {
        let sampler = ParentBasedSampler::new(AlwaysOffSampler);
        let sampled = SpanContext::new(TraceId(1), SpanId(2), TraceOptions::SAMPLED);
        let unsampled = SpanContext::new(TraceId(1), SpanId(2), TraceOptions::NOT_SAMPLED);
        let with = |parent| SamplingParams {
            parent: Some(parent),
            ..params(TraceId(1))
        };
        assert!(sampler.should_sample(&with(&sampled)));
        assert!(!sampler.should_sample(&with(&unsampled)));
        assert!(!sampler.should_sample(&params(TraceId(1))));
        assert!(ParentBasedSampler::default().should_sample(&params(TraceId(1))));
    }
}
