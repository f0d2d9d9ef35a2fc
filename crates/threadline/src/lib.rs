//! Threadline: distributed tracing for Rust.
//!
//! The API follows OpenCensus' `Tracer`, `Span`, `SpanContext`, samplers and `Status`, in Rust
//! form: a span is current while its guard lives, `#[trace]` instruments a function, and
//! [`FutureExt::in_span`] carries a span through `.await`s.
//!
//! ```
//! use threadline::{Status, StatusCode};
//!
//! #[threadline::trace]
//! fn do_work(i: u32) -> u32 {
//!     threadline::add_attribute_to_current_span("i", i);
//!     i * 2
//! }
//!
//! let _tracing = threadline::init(); // OTEL_* variables pick the exporter; console by default
//! let main = threadline::span("main");
//! for i in 0..3 {
//!     do_work(i);
//! }
//! main.add_annotation("done", []);
//! main.set_status(Status::new(StatusCode::Ok, ""));
//! ```
//!
//! # How a span travels
//!
//! Starting a span appends a record to a thread-local log (`local`): no lock, no atomic
//! read-modify-write, no allocation beyond the log's pre-sized buffer. When the thread leaves
//! its outermost span, the log moves to the collector thread through a per-thread ring
//! (`collector`), which assembles [`SpanData`] and hands it to the tracer's processor and
//! [`Exporter`] (`export`). Every bound is fixed and every dropped span is counted
//! ([`Tracer::stats`]).
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate self as threadline;

mod clock;
mod collector;
pub mod config;
mod context;
mod data;
mod diag;
pub mod export;
mod future;
mod global;
mod id;
mod json;
mod limits;
mod local;
pub mod propagation;
mod sampler;
mod span;
mod status;
mod tracer;
mod value;

pub use collector::PipelineStats;
pub use context::{SpanContext, TraceOptions, TraceState, TraceStateError};
pub use data::{
    Annotation, DroppedCounts, Link, LinkType, MessageEvent, MessageEventType, Resource, SpanData,
    SpanKind, UnknownSpanKind,
};
pub use export::console::{ConsoleExporter, ConsoleFormat};
pub use export::file::FileExporter;
pub use export::memory::InMemoryExporter;
pub use export::{BatchConfig, ExportError, Exporter, FlushError, NoopExporter};
pub use future::{FutureExt, InSpan, WithBaggage};
pub use global::{
    add_attribute_to_current_span, attach, current_context, current_span, flush, global_tracer,
    init, init_with, set_global_tracer, shutdown, span, span_builder, tracer, TracingGuard,
};
pub use id::{ParseIdError, SpanId, TraceId};
pub use limits::SpanLimits;
pub use sampler::{
    AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, ProbabilitySampler, Sampler,
    SamplingParams,
};
pub use span::{ContextGuard, EnteredSpan, Span, SpanGuard, SpanRef};
pub use status::{Status, StatusCode, UnknownStatusCode};
pub use tracer::{SpanBuilder, Tracer, TracerBuilder};
pub use value::{KeyValue, Str, Value};

/// Instruments a function with a span named after it (or `name = "..."`).
///
/// On a synchronous function the span is current for the whole call. On an `async fn` the
/// span starts when the future is first polled, is current during every poll, and ends when
/// the future completes.
///
/// ```
/// #[threadline::trace]
/// fn add(a: i64, b: i64) -> i64 {
///     a + b
/// }
///
/// #[threadline::trace(name = "subtract")]
/// async fn sub(a: i64, b: i64) -> i64 {
///     a - b
/// }
/// # assert_eq!(add(1, 2), 3);
/// ```
#[cfg(feature = "macros")]
pub use threadline_macros::trace;

#[doc(hidden)]
pub mod __private {
    pub use crate::future::FutureExt;

    /// The guard a `#[trace]` function holds.
    #[inline]
    pub fn enter(name: &'static str) -> crate::SpanGuard {
        crate::span(name)
    }

    /// The owned span a `#[trace]` async function runs in.
    pub fn async_span(name: &'static str) -> crate::Span {
        match crate::local::current_frame() {
            // Under an unsampled parent nothing is recorded; skip the builder.
            Some((_, _, false, _)) => crate::Span::noop(),
            _ => match crate::global_tracer() {
                Some(tracer) => tracer.span_builder(name).start(),
                None => crate::Span::noop(),
            },
        }
    }
}
