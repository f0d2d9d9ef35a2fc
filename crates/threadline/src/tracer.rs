//! The tracer: span creation, sampling and the export pipeline behind it.

use std::sync::Arc;
use std::time::Duration;

use crate::collector::assemble::{Change, PartialSpan};
use crate::collector::{self, Counters, Pipeline, PipelineStats};
use crate::context::{SpanContext, TraceState};
use crate::data::{Link, Resource, SpanKind};
use crate::export::memory::InMemoryExporter;
use crate::export::processor::{BatchConfig, Processor};
use crate::export::{Exporter, FlushError};
use crate::id::{SpanId, TraceId};
use crate::limits::SpanLimits;
use crate::local::{self, StartArgs, TOP, TOP_SAMPLED, TOP_UNSAMPLED};
use crate::propagation::{CompositePropagator, Propagator};
use crate::sampler::{ParentBasedSampler, Sampler, SamplingParams};
use crate::span::{ContextGuard, Span, SpanGuard, SpanRef};
use crate::value::{KeyValue, Str, Value};

/// Creates spans, decides sampling and hands finished spans to its exporter (the seed API's
/// `Tracer`). Cloning is cheap and clones share everything.
///
/// # Examples
///
/// ```
/// use threadline::{Tracer, ProbabilitySampler};
/// let (tracer, spans) = Tracer::builder()
///     .service_name("python-quickstart")
///     .in_memory();
/// {
///     let main = tracer.span("main");
///     for _ in 0..3 {
///         let work = tracer.span("doWork");
///         work.add_annotation("invoking doWork", []);
///     }
///     main.add_attribute("iterations", 3);
/// }
/// tracer.flush(std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(spans.spans().len(), 4);
/// ```
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<TracerInner>,
}

struct TracerInner {
    pipeline: Arc<Pipeline>,
    sampler: Arc<dyn Sampler>,
    capture_stack_traces: bool,
    default_kind: SpanKind,
    propagator: Arc<dyn Propagator>,
}

impl Drop for TracerInner {
    /// The last clone of a tracer delivers what it finished, then shuts its exporter down.
    /// On Threadline's own threads (a tracer dropped inside an exporter) waiting would wait
    /// for itself, so it only shuts down.
    fn drop(&mut self) {
        let deadline = collector::deadline_after(Duration::from_secs(5));
        if !local::is_internal() {
            let _ = collector::flush_pipeline(&self.pipeline, deadline);
            let _ = self.pipeline.shutdown(deadline);
        } else {
            let _ = self.pipeline.shutdown(std::time::Instant::now());
        }
    }
}

impl std::fmt::Debug for Tracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("service", &self.inner.pipeline.resource.service_name)
            .field("sampler", &self.inner.sampler.description())
            .finish()
    }
}

impl Tracer {
    /// A builder with defaults: parent-based always-on sampling, default limits, no exporter.
    pub fn builder() -> TracerBuilder {
        TracerBuilder::default()
    }

    /// A tracer that records nothing.
    pub fn noop() -> Tracer {
        TracerBuilder::default()
            .sampler(crate::sampler::AlwaysOffSampler)
            .build()
    }

    /// Starts a span that is current until the guard drops; a child of the current span.
    ///
    /// Under an unsampled parent this costs one thread-local load and a branch.
    #[inline(always)]
    pub fn span(&self, name: impl Into<Str>) -> SpanGuard {
        let top = TOP.with(|t| t.get());
        if top == TOP_UNSAMPLED {
            return SpanGuard::NOOP;
        }
        self.span_recorded(top, name.into())
    }

    fn span_recorded(&self, top: u8, name: Str) -> SpanGuard {
        if top == TOP_SAMPLED {
            match local::start_child(name, Some(self.inner.pipeline.id), self.inner.default_kind) {
                Ok((span_id, depth)) => SpanGuard::new(SpanRef::new(span_id, true, false), depth),
                Err(name) => self.span_builder(name).enter(),
            }
        } else {
            self.root_span(name)
        }
    }

    #[inline]
    fn root_span(&self, name: Str) -> SpanGuard {
        // A remote parent (or an ended frame) is current: the builder decides against it, and
        // the sampler is asked once.
        if !local::stack_is_empty() {
            return self.span_builder(name).enter();
        }
        let trace_id = TraceId::random();
        let kind = self.inner.default_kind;
        let sampled = self.inner.sampler.should_sample(&SamplingParams {
            trace_id,
            parent: None,
            name: &name,
            kind,
        });
        let sampled = sampled && !local::is_internal();
        match local::start_root(name, trace_id, sampled, self.inner.pipeline.id, kind) {
            Ok((span_id, depth)) => SpanGuard::new(SpanRef::new(span_id, sampled, false), depth),
            Err(name) => self.span_builder(name).enter(),
        }
    }

    /// A builder for a span with a kind, parent, attributes or links set at start.
    pub fn span_builder(&self, name: impl Into<Str>) -> SpanBuilder<'_> {
        SpanBuilder {
            tracer: self,
            name: name.into(),
            kind: self.inner.default_kind,
            parent: ParentChoice::Current,
            changes: Vec::new(),
            stack_trace: self.inner.capture_stack_traces,
        }
    }

    /// Starts a span and makes it current without a guard; end it with [`Tracer::end_span`].
    pub fn start_span(&self, name: impl Into<Str>) -> SpanRef {
        let guard = self.span(name);
        let span = (*guard).clone();
        std::mem::forget(guard);
        span
    }

    /// Ends the current span, making its parent current again.
    pub fn end_span(&self) {
        local::end_top();
    }

    /// The current span on this thread; a no-op handle when there is none.
    pub fn current_span(&self) -> SpanRef {
        crate::global::current_span()
    }

    /// Sets an attribute on the current span.
    pub fn add_attribute_to_current_span(&self, key: impl Into<Str>, value: impl Into<Value>) {
        self.current_span().add_attribute(key, value);
    }

    /// Whether the current trace is sampled: the current span's flag, or this tracer's
    /// sampler's decision for a new trace when there is no current span.
    pub fn should_sample(&self) -> bool {
        match local::current_parent() {
            Some(parent) if !parent.remote => parent.sampled,
            Some(parent) => {
                let ctx = parent_context(&parent);
                self.inner.sampler.should_sample(&SamplingParams {
                    trace_id: parent.trace_id,
                    parent: Some(&ctx),
                    name: "",
                    kind: SpanKind::Unspecified,
                })
            }
            None => self.inner.sampler.should_sample(&SamplingParams {
                trace_id: TraceId::random(),
                parent: None,
                name: "",
                kind: SpanKind::Unspecified,
            }),
        }
    }

    /// Makes `context` (typically extracted from a request) the parent of spans made on this
    /// thread until the guard drops.
    pub fn attach(&self, context: &SpanContext) -> ContextGuard {
        ContextGuard::attach(context, self.inner.pipeline.id)
    }

    /// Exports everything finished so far and waits until the exporter has it, or `timeout`.
    ///
    /// Spans still being recorded on other threads, inside spans that have not ended, are not
    /// included: they arrive when their thread leaves its outermost span.
    ///
    /// # Errors
    ///
    /// [`FlushError::Timeout`] when the exporter did not finish in time,
    /// [`FlushError::Shutdown`] after [`Tracer::shutdown`].
    pub fn flush(&self, timeout: Duration) -> Result<(), FlushError> {
        collector::flush_pipeline(&self.inner.pipeline, collector::deadline_after(timeout))
    }

    /// Flushes, then shuts the exporter down. Spans ended afterwards are dropped and counted.
    ///
    /// # Errors
    ///
    /// As [`Tracer::flush`].
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = collector::deadline_after(timeout);
        let flushed = collector::flush_pipeline(&self.inner.pipeline, deadline);
        let shut = self.inner.pipeline.shutdown(deadline);
        flushed.and(shut)
    }

    /// Counters of spans exported, failed, dropped and queued.
    pub fn stats(&self) -> PipelineStats {
        self.inner.pipeline.stats()
    }

    /// The resource (service) this tracer's spans are attributed to.
    pub fn resource(&self) -> &Resource {
        &self.inner.pipeline.resource
    }

    /// The sampler's description.
    pub fn sampler_description(&self) -> String {
        self.inner.sampler.description()
    }

    /// The propagator integrations use with this tracer: the one set with
    /// [`TracerBuilder::propagator`], `OTEL_PROPAGATORS`'s for [`TracerBuilder::from_env`],
    /// W3C Trace Context plus W3C Baggage otherwise. See [`crate::propagation`].
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{B3Propagator, Propagator};
    /// let tracer = threadline::Tracer::builder().propagator(B3Propagator::multi()).build();
    /// assert_eq!(tracer.propagator().fields()[0], "x-b3-traceid");
    /// ```
    pub fn propagator(&self) -> &dyn Propagator {
        &*self.inner.propagator
    }

    fn resolve(&self, parent: &ParentChoice, name: &str, kind: SpanKind) -> Resolved {
        let mut resolved = self.resolve_sampling(parent, name, kind);
        resolved.sampled &= !local::is_internal();
        resolved
    }

    fn resolve_sampling(&self, parent: &ParentChoice, name: &str, kind: SpanKind) -> Resolved {
        let parent = match parent {
            ParentChoice::Root => None,
            ParentChoice::Explicit(ctx) if ctx.is_valid() => Some(ParentState {
                trace_id: ctx.trace_id(),
                span_id: ctx.span_id().0,
                sampled: ctx.is_sampled(),
                remote: ctx.from_header(),
                trace_state: ctx.tracestate().clone(),
            }),
            ParentChoice::Explicit(_) => None,
            ParentChoice::Current => local::current_parent().map(|p| ParentState {
                trace_id: p.trace_id,
                span_id: p.span_id,
                sampled: p.sampled,
                remote: p.remote,
                trace_state: p.trace_state,
            }),
        };
        match parent {
            Some(p) => {
                let sampled = if p.remote {
                    let ctx = SpanContext::new(
                        p.trace_id,
                        SpanId(p.span_id),
                        crate::TraceOptions::default().with_sampled(p.sampled),
                    )
                    .with_from_header(true);
                    self.inner.sampler.should_sample(&SamplingParams {
                        trace_id: p.trace_id,
                        parent: Some(&ctx),
                        name,
                        kind,
                    })
                } else {
                    p.sampled
                };
                Resolved {
                    trace_id: p.trace_id,
                    parent_id: p.span_id,
                    parent_is_remote: p.remote,
                    trace_state: p.trace_state,
                    sampled,
                }
            }
            None => {
                let trace_id = TraceId::random();
                let sampled = self.inner.sampler.should_sample(&SamplingParams {
                    trace_id,
                    parent: None,
                    name,
                    kind,
                });
                Resolved {
                    trace_id,
                    parent_id: 0,
                    parent_is_remote: false,
                    trace_state: TraceState::EMPTY,
                    sampled,
                }
            }
        }
    }
}

fn parent_context(parent: &local::ParentInfo) -> SpanContext {
    SpanContext::new(
        parent.trace_id,
        SpanId(parent.span_id),
        crate::TraceOptions::default().with_sampled(parent.sampled),
    )
    .with_from_header(parent.remote)
    .with_tracestate(parent.trace_state.clone())
}

struct ParentState {
    trace_id: TraceId,
    span_id: u64,
    sampled: bool,
    remote: bool,
    trace_state: TraceState,
}

struct Resolved {
    trace_id: TraceId,
    parent_id: u64,
    parent_is_remote: bool,
    trace_state: TraceState,
    sampled: bool,
}

enum ParentChoice {
    Current,
    Root,
    Explicit(SpanContext),
}

/// Configures a span before it starts: kind, parent, attributes, links.
///
/// # Examples
///
/// ```
/// use threadline::{SpanContext, SpanKind, TraceOptions, Tracer};
/// let (tracer, spans) = Tracer::builder().in_memory();
/// let remote = SpanContext::from_hex(
///     "4bf92f3577b34da6a3ce929d0e0e4736",
///     "00f067aa0ba902b7",
///     TraceOptions::SAMPLED,
/// )
/// .unwrap()
/// .with_from_header(true);
/// {
///     let _server = tracer
///         .span_builder("GET /users")
///         .kind(SpanKind::Server)
///         .parent(remote)
///         .attribute("http.request.method", "GET")
///         .enter();
/// }
/// tracer.flush(std::time::Duration::from_secs(5)).unwrap();
/// let span = &spans.spans()[0];
/// assert_eq!(span.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(span.parent_is_remote);
/// ```
#[must_use = "a span builder does nothing until `enter` or `start`"]
pub struct SpanBuilder<'t> {
    tracer: &'t Tracer,
    name: Str,
    kind: SpanKind,
    parent: ParentChoice,
    changes: Vec<Change>,
    stack_trace: bool,
}

impl SpanBuilder<'_> {
    /// Sets the kind.
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Makes `context` the parent instead of the current span. A context with
    /// [`SpanContext::from_header`] set is a remote parent, and the sampler is asked about it.
    pub fn parent(mut self, context: SpanContext) -> Self {
        self.parent = ParentChoice::Explicit(context);
        self
    }

    /// Starts a new trace, ignoring the current span.
    pub fn root(mut self) -> Self {
        self.parent = ParentChoice::Root;
        self
    }

    /// Sets an attribute at start (visible to samplers in the future, cheaper than after).
    pub fn attribute(mut self, key: impl Into<Str>, value: impl Into<Value>) -> Self {
        self.changes
            .push(Change::Attribute(KeyValue::new(key, value)));
        self
    }

    /// Adds a link at start.
    pub fn link(mut self, link: Link) -> Self {
        self.changes.push(Change::Link(Box::new(link)));
        self
    }

    /// Captures the stack trace at start.
    pub fn with_stack_trace(mut self) -> Self {
        self.stack_trace = true;
        self
    }

    fn into_changes(mut self) -> Vec<Change> {
        if self.stack_trace {
            self.changes.push(Change::StackTrace(
                std::backtrace::Backtrace::force_capture().to_string(),
            ));
        }
        self.changes
    }

    /// Starts the span on this thread and makes it current until the guard drops.
    pub fn enter(self) -> SpanGuard {
        let tracer = self.tracer;
        let r = tracer.resolve(&self.parent, &self.name, self.kind);
        let name = self.name.clone();
        let kind = self.kind;
        let changes = if r.sampled {
            self.into_changes()
        } else {
            Vec::new()
        };
        let started = local::start_local(StartArgs {
            name,
            kind,
            trace_id: r.trace_id,
            parent_id: r.parent_id,
            parent_is_remote: r.parent_is_remote,
            trace_state: r.trace_state,
            pipeline: tracer.inner.pipeline.id,
            sampled: r.sampled,
            changes,
        });
        match started {
            Some((span_id, depth)) => {
                SpanGuard::new(SpanRef::new(span_id, r.sampled, false), depth)
            }
            None => SpanGuard::NOOP,
        }
    }

    /// Starts an owned span, which can move to other threads and into futures.
    pub fn start(self) -> Span {
        let tracer = self.tracer;
        let r = tracer.resolve(&self.parent, &self.name, self.kind);
        let span_id = crate::id::next_random();
        let pipeline = tracer.inner.pipeline.id;
        let data = if r.sampled {
            let name = self.name.clone();
            let kind = self.kind;
            let mut partial = PartialSpan::new(
                r.trace_id,
                SpanId(span_id),
                SpanId(r.parent_id),
                r.parent_is_remote,
                name,
                kind,
                pipeline,
                crate::clock::now(),
                tracer.inner.pipeline.limits,
            );
            if !r.trace_state.is_empty() {
                partial.apply(Change::TraceState(r.trace_state.clone()));
            }
            for change in self.into_changes() {
                partial.apply(change);
            }
            Some(partial)
        } else {
            None
        };
        Span::new_owned(r.trace_id, span_id, r.trace_state, pipeline, data)
    }
}

/// Builds a [`Tracer`].
pub struct TracerBuilder {
    resource: Resource,
    scope: Str,
    sampler: Arc<dyn Sampler>,
    limits: SpanLimits,
    batch: BatchConfig,
    exporter: Option<(Box<dyn Exporter>, bool)>,
    capture_stack_traces: bool,
    default_kind: SpanKind,
    propagator: Option<Arc<dyn Propagator>>,
}

impl Default for TracerBuilder {
    fn default() -> Self {
        TracerBuilder {
            resource: Resource::new("unknown_service"),
            scope: "threadline".into(),
            sampler: Arc::new(ParentBasedSampler::default()),
            limits: SpanLimits::default(),
            batch: BatchConfig::default(),
            exporter: None,
            capture_stack_traces: false,
            default_kind: SpanKind::Internal,
            propagator: None,
        }
    }
}

impl TracerBuilder {
    /// Sets `service.name`.
    pub fn service_name(mut self, name: impl Into<Str>) -> Self {
        self.resource.service_name = name.into();
        self
    }

    /// Adds a resource attribute (`service.version`, `deployment.environment`, ...).
    pub fn resource_attribute(mut self, key: impl Into<Str>, value: impl Into<Value>) -> Self {
        let kv = KeyValue::new(key, value);
        if kv.key == "service.name" {
            if let Some(name) = kv.value.as_str() {
                self.resource.service_name = name.to_string().into();
            }
            return self;
        }
        self.resource.attributes.retain(|a| a.key != kv.key);
        self.resource.attributes.push(kv);
        self
    }

    /// Sets the instrumentation scope name reported with the spans.
    pub fn scope_name(mut self, name: impl Into<Str>) -> Self {
        self.scope = name.into();
        self
    }

    /// Sets the sampler (default: parent-based always-on).
    pub fn sampler(mut self, sampler: impl Sampler) -> Self {
        self.sampler = Arc::new(sampler);
        self
    }

    /// Sets a shared sampler.
    pub fn shared_sampler(mut self, sampler: Arc<dyn Sampler>) -> Self {
        self.sampler = sampler;
        self
    }

    /// Sets the per-span limits.
    pub fn limits(mut self, limits: SpanLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the batch processor's configuration.
    pub fn batch_config(mut self, config: BatchConfig) -> Self {
        self.batch = config;
        self
    }

    /// Exports through the batch processor: a background thread, a bounded queue.
    pub fn batch_exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporter = Some((Box::new(exporter), true));
        self
    }

    /// Exports each span as soon as it is collected, from the collector thread.
    pub fn simple_exporter(mut self, exporter: impl Exporter) -> Self {
        self.exporter = Some((Box::new(exporter), false));
        self
    }

    /// Exports through the batch processor, for an already boxed exporter.
    pub fn boxed_batch_exporter(mut self, exporter: Box<dyn Exporter>) -> Self {
        self.exporter = Some((exporter, true));
        self
    }

    /// Captures a stack trace at the start of every span (costly; for debugging).
    pub fn capture_stack_traces(mut self, capture: bool) -> Self {
        self.capture_stack_traces = capture;
        self
    }

    /// The kind of spans made without one (default [`SpanKind::Internal`]).
    pub fn default_kind(mut self, kind: SpanKind) -> Self {
        self.default_kind = kind;
        self
    }

    /// Sets the propagator (default: W3C Trace Context plus W3C Baggage), returned by
    /// [`Tracer::propagator`] and, for the global tracer, [`crate::propagation::propagator`].
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::{CompositePropagator, JaegerPropagator, TraceContextPropagator};
    /// let tracer = threadline::Tracer::builder()
    ///     .propagator(CompositePropagator::new().with(TraceContextPropagator).with(JaegerPropagator))
    ///     .build();
    /// ```
    pub fn propagator(mut self, propagator: impl Propagator) -> Self {
        self.propagator = Some(Arc::new(propagator));
        self
    }

    /// Sets a shared propagator.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// let tracer = threadline::Tracer::builder()
    ///     .shared_propagator(Arc::new(threadline::propagation::B3Propagator::single()))
    ///     .build();
    /// ```
    pub fn shared_propagator(mut self, propagator: Arc<dyn Propagator>) -> Self {
        self.propagator = Some(propagator);
        self
    }

    /// The current batch configuration.
    pub fn current_batch_config(&self) -> BatchConfig {
        self.batch
    }

    /// Builds the tracer with an in-memory exporter behind the simple processor, for tests.
    pub fn in_memory(self) -> (Tracer, InMemoryExporter) {
        let exporter = InMemoryExporter::default();
        (self.simple_exporter(exporter.clone()).build(), exporter)
    }

    /// Builds the tracer and starts its export pipeline.
    pub fn build(self) -> Tracer {
        let counters = Arc::new(Counters::default());
        let processor = match self.exporter {
            Some((exporter, true)) => Processor::batch(exporter, self.batch, counters.clone()),
            Some((exporter, false)) => Processor::simple(exporter, counters.clone()),
            None => Processor::none(counters.clone()),
        };
        let pipeline = collector::register_pipeline(
            Arc::new(self.resource),
            self.scope,
            self.limits,
            counters,
            processor,
        );
        Tracer {
            inner: Arc::new(TracerInner {
                pipeline,
                sampler: self.sampler,
                capture_stack_traces: self.capture_stack_traces,
                default_kind: self.default_kind,
                propagator: self
                    .propagator
                    .unwrap_or_else(|| Arc::new(CompositePropagator::w3c())),
            }),
        }
    }
}
