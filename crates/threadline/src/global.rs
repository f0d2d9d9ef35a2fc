//! The global tracer and the functions that use it.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::context::SpanContext;
use crate::data::SpanKind;
use crate::export::FlushError;
use crate::local::{self, FrameClass, TOP, TOP_NONE, TOP_SAMPLED, TOP_UNSAMPLED};
use crate::span::{ContextGuard, SpanGuard, SpanRef};
use crate::tracer::{SpanBuilder, Tracer};
use crate::value::{Str, Value};

/// The global tracer. Set ones are leaked on purpose so that a `&'static Tracer` handed out
/// earlier stays valid after the global is replaced.
static GLOBAL: AtomicPtr<Tracer> = AtomicPtr::new(std::ptr::null_mut());

/// Makes `tracer` the global tracer used by [`span`] and the other free functions.
pub fn set_global_tracer(tracer: Tracer) {
    let leaked = Box::into_raw(Box::new(tracer));
    GLOBAL.store(leaked, Ordering::Release);
}

/// The global tracer, if one was set.
#[inline]
pub fn global_tracer() -> Option<&'static Tracer> {
    let ptr = GLOBAL.load(Ordering::Acquire);
    // SAFETY: non-null pointers come from `Box::into_raw` in `set_global_tracer` and are never
    // freed.
    unsafe { ptr.as_ref() }
}

/// The global tracer, or a tracer that records nothing when none was set.
pub fn tracer() -> &'static Tracer {
    global_tracer().unwrap_or_else(|| {
        static NOOP: OnceLock<Tracer> = OnceLock::new();
        NOOP.get_or_init(Tracer::noop)
    })
}

/// Configures the global tracer from the `OTEL_*` environment variables (see
/// [`crate::config`]) and returns a guard that flushes and shuts it down when dropped.
///
/// Keep the guard alive for the whole program (`let _tracing = threadline::init();` at the
/// top of `main`): spans that end before the guard drops are exported, even when the program
/// ends right after them.
///
/// # Examples
///
/// ```
/// let _tracing = threadline::init();
/// let _main = threadline::span("main");
/// ```
pub fn init() -> TracingGuard {
    init_with(crate::tracer::TracerBuilder::from_env().build())
}

/// Makes `tracer` the global tracer and returns a guard that shuts it down when dropped.
pub fn init_with(tracer: Tracer) -> TracingGuard {
    set_global_tracer(tracer.clone());
    TracingGuard {
        tracer,
        timeout: shutdown_timeout(),
    }
}

fn shutdown_timeout() -> Duration {
    crate::config::duration_ms_var("THREADLINE_SHUTDOWN_TIMEOUT", Duration::from_secs(5))
}

/// Flushes and shuts the global tracer down when dropped; see [`init`].
#[must_use = "spans may be lost if the guard is dropped at once"]
#[derive(Debug)]
pub struct TracingGuard {
    tracer: Tracer,
    timeout: Duration,
}

impl TracingGuard {
    /// The tracer this guard will shut down.
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }
}

impl Drop for TracingGuard {
    fn drop(&mut self) {
        if let Err(error) = self.tracer.shutdown(self.timeout) {
            crate::diag::warn(format_args!("shutdown incomplete, error = {error}"));
        }
    }
}

/// Starts a span with the global tracer, current until the guard drops; a child of the
/// current span.
///
/// Under an unsampled parent this costs one thread-local load and a branch.
///
/// # Examples
///
/// ```
/// let (tracer, spans) = threadline::Tracer::builder().in_memory();
/// let _tracing = threadline::init_with(tracer);
/// {
///     let span = threadline::span("database_query");
///     span.add_attribute("rows_returned", 42);
/// }
/// threadline::flush(std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(spans.spans()[0].name, "database_query");
/// ```
#[inline(always)]
pub fn span(name: impl Into<Str>) -> SpanGuard {
    let top = TOP.with(|t| t.get());
    if top == TOP_UNSAMPLED || (top == TOP_NONE && GLOBAL.load(Ordering::Relaxed).is_null()) {
        return SpanGuard::NOOP;
    }
    span_recorded(top, name.into())
}

fn span_recorded(top: u8, name: Str) -> SpanGuard {
    let name = if top == TOP_SAMPLED {
        match local::start_child(name, None, SpanKind::Internal) {
            Ok((span_id, depth)) => {
                return SpanGuard::new(SpanRef::new(span_id, true, false), depth)
            }
            Err(name) => name,
        }
    } else {
        name
    };
    match global_tracer() {
        Some(tracer) => tracer.span(name),
        None => SpanGuard::NOOP,
    }
}

/// A span builder on the global tracer.
pub fn span_builder(name: impl Into<Str>) -> SpanBuilder<'static> {
    tracer().span_builder(name)
}

/// The current span on this thread; a no-op handle when there is none.
pub fn current_span() -> SpanRef {
    match local::current_frame() {
        Some((_, span_id, sampled, kind)) => SpanRef::with_recording(
            span_id,
            sampled,
            kind == FrameClass::Owned,
            sampled && kind != FrameClass::Context,
        ),
        None => SpanRef::NOOP,
    }
}

/// The current span's context (invalid when there is none), for propagation.
pub fn current_context() -> SpanContext {
    current_span().context()
}

/// Sets an attribute on the current span.
pub fn add_attribute_to_current_span(key: impl Into<Str>, value: impl Into<Value>) {
    current_span().add_attribute(key, value);
}

/// Makes `context` the parent of spans made on this thread until the guard drops.
pub fn attach(context: &SpanContext) -> ContextGuard {
    tracer().attach(context)
}

/// Flushes every tracer: spans that ended so far are exported before this returns, or the
/// timeout passes.
///
/// # Errors
///
/// [`FlushError`] when an exporter did not finish in time or failed.
pub fn flush(timeout: Duration) -> Result<(), FlushError> {
    crate::collector::flush_all(crate::collector::deadline_after(timeout))
}

/// Shuts the global tracer down.
///
/// # Errors
///
/// As [`flush`].
pub fn shutdown(timeout: Duration) -> Result<(), FlushError> {
    match global_tracer() {
        Some(tracer) => tracer.shutdown(timeout),
        None => Ok(()),
    }
}
