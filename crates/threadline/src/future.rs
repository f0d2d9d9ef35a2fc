//! Futures support: a span, or baggage, that is current while a future is polled.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::propagation::Baggage;
use crate::span::Span;

/// Adds [`in_span`](FutureExt::in_span) and [`with_baggage`](FutureExt::with_baggage) to every
/// future.
pub trait FutureExt: Future + Sized {
    /// Makes `span` current each time the future is polled, on whichever thread polls it, and
    /// ends the span when the future completes (or is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::FutureExt;
    /// let (tracer, spans) = threadline::Tracer::builder().in_memory();
    /// let fut = async {
    ///     let _child = threadline::span("inside");
    /// }
    /// .in_span(tracer.span_builder("request").start());
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Waker};
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) { return v; }
    /// #     }
    /// # }
    /// block_on(fut);
    /// tracer.flush(std::time::Duration::from_secs(5)).unwrap();
    /// let spans = spans.spans();
    /// assert_eq!(spans.len(), 2);
    /// assert_eq!(spans[0].parent_span_id, Some(spans[1].span_id));
    /// ```
    fn in_span(self, span: Span) -> InSpan<Self> {
        InSpan {
            inner: self,
            span: Some(span),
        }
    }

    /// Makes `baggage` the current baggage each time the future is polled, on whichever thread
    /// polls it, so that requests the future sends carry it.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline::propagation::Baggage;
    /// use threadline::FutureExt;
    /// let mut baggage = Baggage::new();
    /// baggage.insert("tenant", "acme").unwrap();
    /// let fut = async { Baggage::current().get("tenant").map(str::to_string) }.with_baggage(baggage);
    /// # fn block_on<F: std::future::Future>(f: F) -> F::Output {
    /// #     use std::task::{Context, Poll, Waker};
    /// #     let mut f = std::pin::pin!(f);
    /// #     loop {
    /// #         if let Poll::Ready(v) = f.as_mut().poll(&mut Context::from_waker(Waker::noop())) { return v; }
    /// #     }
    /// # }
    /// assert_eq!(block_on(fut).as_deref(), Some("acme"));
    /// assert!(Baggage::current().is_empty());
    /// ```
    fn with_baggage(self, baggage: Baggage) -> WithBaggage<Self> {
        WithBaggage {
            inner: self,
            baggage,
        }
    }
}

impl<F: Future> FutureExt for F {}

/// A future with a span; see [`FutureExt::in_span`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct InSpan<F> {
    inner: F,
    span: Option<Span>,
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is never moved out of the pinned struct; `span` is not structurally
        // pinned and is only taken by value after the inner future completed.
        let this = unsafe { self.get_unchecked_mut() };
        let entered = this.span.as_ref().map(Span::enter);
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let result = inner.poll(cx);
        drop(entered);
        if result.is_ready() {
            this.span.take();
        }
        result
    }
}

/// A future with baggage; see [`FutureExt::with_baggage`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct WithBaggage<F> {
    inner: F,
    baggage: Baggage,
}

impl<F: Future> Future for WithBaggage<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is never moved out of the pinned struct; `baggage` is not
        // structurally pinned and only cloned.
        let this = unsafe { self.get_unchecked_mut() };
        let _current = this.baggage.clone().attach();
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        inner.poll(cx)
    }
}
