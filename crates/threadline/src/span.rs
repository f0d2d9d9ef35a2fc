//! Spans: the thread-bound guard, the handle on a span, and the owned span that crosses threads.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::collector::assemble::{Change, PartialSpan};
use crate::context::{SpanContext, TraceOptions, TraceState};
use crate::data::{Link, MessageEventType, SpanKind};
use crate::id::{SpanId, TraceId};
use crate::local::{self, Frame, FrameKind, OwnedCell};
use crate::status::Status;
use crate::value::{KeyValue, Str, Value};

const SAMPLED: u8 = 1;
const OWNED: u8 = 2;
const RECORDING: u8 = 4;

/// A handle on a span of this thread: the current span, or the span of a [`SpanGuard`].
///
/// Changes through a handle whose span has ended are ignored. A handle on an unsampled span
/// records nothing and costs a branch per call. It is not `Send`: to work on a span from other
/// threads, use a [`Span`].
///
/// # Examples
///
/// ```
/// let _tracing = threadline::init_with(threadline::Tracer::builder().in_memory().0);
/// let span = threadline::span("lookup");
/// span.add_attribute("user", "ada");
/// span.add_attribute("attempt", 2);
/// span.add_annotation("cache miss", [threadline::KeyValue::new("shard", 3)]);
/// assert!(span.is_recording());
/// ```
#[derive(Clone)]
pub struct SpanRef {
    span_id: u64,
    /// For the span of a guard: its place on the thread's stack (it lives here, in what would
    /// be padding, to keep guards at 16 bytes).
    depth: u32,
    flags: u8,
    _not_send: PhantomData<*const ()>,
}

/// The methods that change a span, shared by [`SpanRef`] and [`Span`]: each type supplies
/// `is_recording` and a `record` that takes the change (built only when it is recorded).
macro_rules! span_mutators {
    () => {
        /// Sets an attribute; setting a key again replaces its value.
        #[inline]
        pub fn add_attribute(&self, key: impl Into<Str>, value: impl Into<Value>) {
            self.record(|| Change::Attribute(KeyValue::new(key, value)));
        }

        /// Adds a timestamped annotation with attributes.
        pub fn add_annotation(
            &self,
            description: impl Into<Str>,
            attributes: impl IntoIterator<Item = KeyValue>,
        ) {
            self.record(|| {
                Change::Annotation(
                    Box::new((description.into(), attributes.into_iter().collect())),
                    crate::clock::now(),
                )
            });
        }

        /// Records a message sent or received while the span was active.
        pub fn add_message_event(
            &self,
            kind: MessageEventType,
            id: u64,
            uncompressed_size: u64,
            compressed_size: u64,
        ) {
            self.record(|| Change::Message {
                ticks: crate::clock::now(),
                kind,
                id,
                uncompressed: uncompressed_size,
                compressed: compressed_size,
            });
        }

        /// Links this span to another span.
        pub fn add_link(&self, link: Link) {
            self.record(|| Change::Link(Box::new(link)));
        }

        /// Sets the status.
        pub fn set_status(&self, status: Status) {
            self.record(|| Change::Status(Box::new(status)));
        }

        /// Sets the kind.
        pub fn set_kind(&self, kind: SpanKind) {
            self.record(|| Change::Kind(kind));
        }

        /// Renames the span.
        pub fn update_name(&self, name: impl Into<Str>) {
            self.record(|| Change::Name(name.into()));
        }

        /// Sets an error status from `error` and records it as an `exception` annotation, as the
        /// OpenTelemetry exception conventions describe.
        pub fn record_error(&self, error: &(dyn std::error::Error + 'static)) {
            if !self.is_recording() {
                return;
            }
            let status = Status::from_error(error);
            self.add_annotation(
                "exception",
                [KeyValue::new("exception.message", error.to_string())],
            );
            self.set_status(status);
        }

        /// Captures the current stack trace on the span.
        pub fn capture_stack_trace(&self) {
            self.record(|| {
                Change::StackTrace(std::backtrace::Backtrace::force_capture().to_string())
            });
        }
    };
}

impl SpanRef {
    pub(crate) const NOOP: SpanRef = SpanRef {
        span_id: 0,
        depth: 0,
        flags: 0,
        _not_send: PhantomData,
    };

    #[inline]
    pub(crate) fn new(span_id: u64, sampled: bool, owned: bool) -> Self {
        Self::with_recording(span_id, sampled, owned, sampled)
    }

    #[inline]
    pub(crate) fn with_recording(
        span_id: u64,
        sampled: bool,
        owned: bool,
        recording: bool,
    ) -> Self {
        SpanRef {
            span_id,
            depth: 0,
            flags: (sampled as u8 * SAMPLED)
                | (owned as u8 * OWNED)
                | (recording as u8 * RECORDING),
            _not_send: PhantomData,
        }
    }

    /// Whether changes to this span are recorded: it is a sampled span of this process.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.flags & RECORDING != 0
    }

    /// The span's context, for propagation; invalid for a no-op handle or once the span has
    /// ended (the context lives on the thread's span stack).
    pub fn context(&self) -> SpanContext {
        if self.span_id == 0 {
            return SpanContext::INVALID;
        }
        match local::frame_context(self.span_id) {
            Some((trace_id, state)) => {
                let options = TraceOptions::default().with_sampled(self.flags & SAMPLED != 0);
                SpanContext::new(trace_id, SpanId(self.span_id), options).with_tracestate(state)
            }
            None => SpanContext::INVALID,
        }
    }

    /// The trace id; all zeros for a no-op handle or once the span has ended.
    pub fn trace_id(&self) -> TraceId {
        self.context().trace_id()
    }

    /// The span id (all zeros for a no-op handle).
    pub fn span_id(&self) -> SpanId {
        SpanId(self.span_id)
    }

    #[inline(always)]
    fn record(&self, change: impl FnOnce() -> Change) {
        if self.is_recording() {
            let change = change();
            local::change(self.span_id, self.flags & OWNED != 0, change);
        }
    }

    span_mutators!();
}

impl std::fmt::Debug for SpanRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanRef")
            .field("span_id", &SpanId(self.span_id))
            .field("recording", &self.is_recording())
            .finish()
    }
}

/// A span that is current on this thread until the guard is dropped, when it ends: the seed
/// API's `with tracer.span(name) as span:`.
///
/// Spans made while the guard lives are its children. Dereferences to [`SpanRef`].
///
/// A guard belongs to one thread and one stretch of synchronous code: it is not `Send`, so a
/// multi-threaded executor refuses a future that holds one across `.await`. On a
/// single-threaded executor such a guard would stay current while other tasks run; for work
/// that spans `.await`s, use a [`Span`] with [`crate::FutureExt::in_span`].
///
/// # Examples
///
/// ```
/// let (tracer, spans) = threadline::Tracer::builder().in_memory();
/// {
///     let parent = tracer.span("process_order");
///     parent.add_attribute("order_id", "12345");
///     let _child = tracer.span("validate_order");
/// }
/// tracer.flush(std::time::Duration::from_secs(5)).unwrap();
/// let spans = spans.spans();
/// assert_eq!(spans.len(), 2);
/// assert_eq!(spans[0].name, "validate_order");
/// assert_eq!(spans[0].parent_span_id, Some(spans[1].span_id));
/// ```
#[must_use = "the span ends when the guard is dropped"]
pub struct SpanGuard {
    span: SpanRef,
}

impl SpanGuard {
    pub(crate) const NOOP: SpanGuard = SpanGuard {
        span: SpanRef::NOOP,
    };

    #[inline]
    pub(crate) fn new(mut span: SpanRef, depth: u32) -> Self {
        span.depth = depth;
        SpanGuard { span }
    }

    /// Ends the span now (the same as dropping the guard).
    pub fn end(self) {}
}

impl std::ops::Deref for SpanGuard {
    type Target = SpanRef;
    #[inline]
    fn deref(&self) -> &SpanRef {
        &self.span
    }
}

impl Drop for SpanGuard {
    #[inline(always)]
    fn drop(&mut self) {
        if self.span.span_id != 0 {
            local::end_frame(self.span.span_id, self.span.depth);
        }
    }
}

impl std::fmt::Debug for SpanGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.span.fmt(f)
    }
}

/// A span that owns its data and can move between threads: for async tasks and work handed
/// to other threads (the seed API's `Span` object with `start()` and `finish()`).
///
/// It ends when dropped or when [`Span::end`] is called. While entered (by [`Span::enter`] or
/// by polling a future wrapped with [`crate::FutureExt::in_span`]) it is the current span, so
/// spans made meanwhile are its children.
///
/// # Examples
///
/// ```
/// let (tracer, spans) = threadline::Tracer::builder().in_memory();
/// let job = tracer.span_builder("job").start();
/// let handle = std::thread::spawn(move || {
///     job.add_attribute("thread", "worker");
///     let _entered = job.enter();
///     let _step = threadline::span("step");
/// });
/// handle.join().unwrap();
/// tracer.flush(std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(spans.spans().len(), 2);
/// ```
pub struct Span {
    trace_id: TraceId,
    span_id: u64,
    trace_state: TraceState,
    pipeline: u32,
    sampled: bool,
    /// Shared with the frames that enter the span; emptied when it ends.
    data: Option<Arc<OwnedCell>>,
}

impl Span {
    pub(crate) fn new_owned(
        trace_id: TraceId,
        span_id: u64,
        trace_state: TraceState,
        pipeline: u32,
        data: Option<PartialSpan>,
    ) -> Self {
        Span {
            trace_id,
            span_id,
            trace_state,
            pipeline,
            sampled: data.is_some(),
            data: data.map(|d| Arc::new(OwnedCell::new(Some(d)))),
        }
    }

    /// A span that records nothing.
    pub fn noop() -> Self {
        Span::new_owned(TraceId::INVALID, 0, TraceState::EMPTY, 0, None)
    }

    /// Whether changes are recorded.
    pub fn is_recording(&self) -> bool {
        self.data.is_some()
    }

    /// The span's context, for propagation.
    pub fn context(&self) -> SpanContext {
        if self.span_id == 0 {
            return SpanContext::INVALID;
        }
        SpanContext::new(
            self.trace_id,
            SpanId(self.span_id),
            TraceOptions::default().with_sampled(self.sampled),
        )
        .with_tracestate(self.trace_state.clone())
    }

    fn record(&self, change: impl FnOnce() -> Change) {
        if let Some(data) = &self.data {
            // Built before locking: building it may run user code that changes this span.
            let change = change();
            if let Some(span) = data.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                span.apply(change);
            }
        }
    }

    span_mutators!();

    /// Makes this span current on this thread until the returned guard is dropped.
    pub fn enter(&self) -> EnteredSpan<'_> {
        let kind = match &self.data {
            Some(data) => FrameKind::Owned(data.clone()),
            None => FrameKind::Context,
        };
        let depth = local::push_frame(Frame {
            trace_id: self.trace_id,
            span_id: self.span_id,
            trace_state: self.trace_state.clone(),
            pipeline: self.pipeline,
            sampled: self.sampled,
            remote: false,
            ended: false,
            kind,
            generation: 0,
        });
        EnteredSpan {
            span_id: self.span_id,
            depth,
            _span: PhantomData,
        }
    }

    /// Ends the span now (the seed API's `finish`).
    pub fn end(self) {}

    fn finish(&mut self) {
        if let Some(data) = self.data.take() {
            let taken = data.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(mut span) = taken {
                span.end_ticks = crate::clock::now();
                local::finish_owned(Box::new(span));
            }
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        self.finish();
    }
}

impl std::fmt::Debug for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Span")
            .field("trace_id", &self.trace_id)
            .field("span_id", &SpanId(self.span_id))
            .field("recording", &self.is_recording())
            .finish()
    }
}

/// Keeps a [`Span`] current on this thread; see [`Span::enter`].
#[must_use = "the span stops being current when the guard is dropped"]
pub struct EnteredSpan<'a> {
    span_id: u64,
    depth: Option<u32>,
    _span: PhantomData<&'a Span>,
}

impl Drop for EnteredSpan<'_> {
    fn drop(&mut self) {
        if let Some(depth) = self.depth {
            local::end_frame(self.span_id, depth);
        }
    }
}

/// Keeps a context current on this thread, so that spans made meanwhile are its children; see
/// [`crate::attach`].
#[must_use = "the context stops being current when the guard is dropped"]
pub struct ContextGuard {
    span_id: u64,
    depth: Option<u32>,
    _not_send: PhantomData<*const ()>,
}

impl ContextGuard {
    pub(crate) fn attach(context: &SpanContext, pipeline: u32) -> Self {
        if !context.is_valid() {
            return ContextGuard {
                span_id: 0,
                depth: None,
                _not_send: PhantomData,
            };
        }
        let depth = local::push_frame(Frame {
            trace_id: context.trace_id(),
            span_id: context.span_id().0,
            trace_state: context.tracestate().clone(),
            pipeline,
            sampled: context.is_sampled(),
            remote: context.from_header(),
            ended: false,
            kind: FrameKind::Context,
            generation: 0,
        });
        ContextGuard {
            span_id: context.span_id().0,
            depth,
            _not_send: PhantomData,
        }
    }
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if let Some(depth) = self.depth {
            local::end_frame(self.span_id, depth);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn guards_fit_in_two_registers() {
        assert_eq!(std::mem::size_of::<super::SpanGuard>(), 16);
    }
}
