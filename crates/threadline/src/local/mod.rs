//! The hot path: per-thread span recording.
//!
//! Every thread has a log of [`Record`]s and a stack of entered spans. Starting, changing and
//! ending a span appends a record to the log, reading the clock and the thread's id generator;
//! nothing is shared with other threads. When the thread leaves its outermost span (or the log
//! grows past a threshold) the whole log moves to the collector through the thread's own
//! single-producer ring, and a recycled buffer takes its place.

pub(crate) mod ring;

use std::cell::{Cell, UnsafeCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use crate::clock;
use crate::collector::assemble::{Change, PartialSpan};
use crate::context::TraceState;
use crate::data::SpanKind;
use crate::id::TraceId;
use crate::value::Str;
use ring::Ring;

/// Records in a log before it is handed over even though spans are still open.
const SUBMIT_THRESHOLD: usize = 1024;
/// Records a log may hold while the ring is full; past this the log is dropped and counted.
const MAX_LOG_RECORDS: usize = 64 * 1024;
/// Batches in flight per thread.
const RING_CAPACITY: usize = 1024;
/// Records handed to the collector but not yet processed, per thread, at most: with the log's
/// own bound this caps what a thread can pin while the collector is behind.
const MAX_IN_FLIGHT_RECORDS: u64 = 64 * 1024;
/// Fresh buffers start with room for this many records.
const INITIAL_BUFFER: usize = 128;

/// A span starting on this thread.
pub(crate) struct Start {
    pub(crate) span_id: u64,
    pub(crate) parent_id: u64,
    pub(crate) trace_id: [u64; 2],
    pub(crate) name: Str,
    pub(crate) ticks: u64,
    pub(crate) pipeline: u32,
    pub(crate) kind: SpanKind,
    pub(crate) parent_is_remote: bool,
}

pub(crate) enum Record {
    Start(Start),
    Change {
        span_id: u64,
        change: Change,
    },
    End {
        span_id: u64,
        ticks: u64,
    },
    /// A self-contained span (one made with `Span`, which can cross threads).
    Owned(Box<PartialSpan>),
}

/// The two rings between one thread and the collector.
pub(crate) struct ThreadChannel {
    pub(crate) batches: Ring<Vec<Record>>,
    pub(crate) recycled: Ring<Vec<Record>>,
    pub(crate) closed: AtomicBool,
    /// Records the collector has processed; written by the collector only.
    pub(crate) consumed: AtomicU64,
}

/// The storage of a [`crate::Span`]: shared with the frames that enter it, emptied when the
/// span ends, so a frame that outlives its span (a forgotten guard) finds nothing to change.
pub(crate) type OwnedCell = std::sync::Mutex<Option<PartialSpan>>;

#[derive(Clone)]
pub(crate) enum FrameKind {
    /// A span recorded in this thread's log.
    Local,
    /// A `Span` being polled or entered.
    Owned(Arc<OwnedCell>),
    /// A context without a span of ours: a remote parent or an explicitly attached context.
    Context,
}

pub(crate) struct Frame {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: u64,
    pub(crate) trace_state: TraceState,
    pub(crate) pipeline: u32,
    pub(crate) sampled: bool,
    pub(crate) remote: bool,
    pub(crate) ended: bool,
    pub(crate) kind: FrameKind,
    /// The log generation that holds this span's start record.
    pub(crate) generation: u32,
}

pub(crate) struct LocalLog {
    records: Vec<Record>,
    stack: Vec<Frame>,
    channel: Arc<ThreadChannel>,
    /// Records handed to the collector so far.
    submitted: u64,
    /// Bumped whenever the records leave the log (handed over or discarded).
    generation: u32,
    /// Whether the log holds the end of a span whose start left in an earlier generation.
    foreign_ends: bool,
}

/// The state of the top of the stack, readable without touching the log: the one load and
/// branch that an unsampled span costs.
pub(crate) const TOP_NONE: u8 = 0;
pub(crate) const TOP_SAMPLED: u8 = 1;
pub(crate) const TOP_UNSAMPLED: u8 = 2;

thread_local! {
    pub(crate) static TOP: Cell<u8> = const { Cell::new(TOP_NONE) };
    /// Set on Threadline's own threads and while an exporter runs: spans made there would feed
    /// the pipeline with its own work (an instrumented HTTP client inside an exporter), so
    /// nothing is recorded.
    static INTERNAL: Cell<bool> = const { Cell::new(false) };
    static LOG: UnsafeCell<LocalLog> = UnsafeCell::new(LocalLog::new());
}

impl LocalLog {
    fn new() -> Self {
        let channel = Arc::new(ThreadChannel {
            batches: Ring::new(RING_CAPACITY),
            recycled: Ring::new(RING_CAPACITY),
            closed: AtomicBool::new(false),
            consumed: AtomicU64::new(0),
        });
        crate::collector::register_channel(channel.clone());
        LocalLog {
            records: Vec::with_capacity(INITIAL_BUFFER),
            stack: Vec::with_capacity(16),
            channel,
            submitted: 0,
            generation: 0,
            foreign_ends: false,
        }
    }

    #[inline]
    fn top(&self) -> Option<&Frame> {
        self.stack.iter().rev().find(|f| !f.ended)
    }

    #[inline]
    fn refresh_top(&self) {
        let state = match self.top() {
            _ if is_internal() => TOP_UNSAMPLED,
            // A remote parent sends new spans down the slow path, where the sampler is asked.
            None => TOP_NONE,
            Some(f) if f.remote => TOP_NONE,
            Some(f) if f.sampled => TOP_SAMPLED,
            Some(_) => TOP_UNSAMPLED,
        };
        TOP.with(|t| t.set(state));
    }

    /// Moves the log to the collector. Keeps it when the ring is full, up to a bound.
    fn submit(&mut self) {
        if self.records.is_empty() {
            return;
        }
        let in_flight = self
            .submitted
            .wrapping_sub(self.channel.consumed.load(Ordering::Acquire));
        if self.channel.batches.is_full() || in_flight >= MAX_IN_FLIGHT_RECORDS {
            // The collector is behind. Between spans, drop what cannot go (counted); inside a
            // span, keep recording up to a bound in case the collector catches up first.
            if self.stack.is_empty() || self.records.len() >= MAX_LOG_RECORDS {
                self.discard();
            }
            return;
        }
        // SAFETY: this thread is the only consumer of `recycled` and producer of `batches`.
        let fresh = unsafe { self.channel.recycled.pop() }
            .unwrap_or_else(|| Vec::with_capacity(INITIAL_BUFFER));
        let batch = std::mem::replace(&mut self.records, fresh);
        let len = batch.len() as u64;
        match unsafe { self.channel.batches.push(batch) } {
            Ok(()) => {
                self.submitted = self.submitted.wrapping_add(len);
                self.generation = self.generation.wrapping_add(1);
                self.foreign_ends = false;
            }
            // Unreachable after the fullness check, but never lose the records.
            Err(batch) => self.records = batch,
        }
    }

    /// Throws the log away, counting each span it started against its pipeline.
    ///
    /// End records of spans whose start already went to the collector are kept: without them
    /// the collector would hold those spans open for ever.
    #[cold]
    fn discard(&mut self) {
        let started_here: std::collections::HashSet<u64> = if self.foreign_ends {
            self.records
                .iter()
                .filter_map(|r| match r {
                    Record::Start(start) => Some(start.span_id),
                    _ => None,
                })
                .collect()
        } else {
            Default::default()
        };
        let mut counts: Vec<(u32, u64)> = Vec::new();
        let mut kept = Vec::new();
        for record in self.records.drain(..) {
            let pipeline = match record {
                Record::Start(start) => start.pipeline,
                Record::Owned(span) => span.pipeline,
                Record::End { span_id, .. }
                    if self.foreign_ends && !started_here.contains(&span_id) =>
                {
                    kept.push(record);
                    continue;
                }
                _ => continue,
            };
            match counts.iter_mut().find(|(p, _)| *p == pipeline) {
                Some((_, n)) => *n += 1,
                None => counts.push((pipeline, 1)),
            }
        }
        self.generation = self.generation.wrapping_add(1);
        // The kept ends belong to spans started in earlier generations, so they stay foreign.
        self.foreign_ends = !kept.is_empty();
        self.records.extend(kept);
        for (pipeline, n) in counts {
            crate::collector::count_dropped(pipeline, n);
        }
    }

    /// A change outside any span goes at once; a long-lived span's changes go in batches, so
    /// the log stays bounded.
    #[inline]
    fn after_change(&mut self) {
        if self.stack.is_empty() || self.records.len() >= SUBMIT_THRESHOLD {
            self.submit();
        }
    }

    #[inline]
    fn after_end(&mut self) {
        if self.stack.is_empty() || self.records.len() >= SUBMIT_THRESHOLD {
            self.submit();
        }
    }
}

impl Drop for LocalLog {
    fn drop(&mut self) {
        TOP.try_with(|t| t.set(TOP_NONE)).ok();
        self.submit();
        if !self.records.is_empty() {
            self.discard();
        }
        self.channel.closed.store(true, Ordering::Release);
    }
}

/// Appends the record (or frame) `make` builds, building it in its slot: `Vec::push` would
/// take it by value before a possible reallocation and copy it from the stack, which costs a
/// store-forwarding stall on every span. `make` must not run user code: it may not reach the
/// vector.
#[inline(always)]
pub(crate) fn push_in_place<T>(records: &mut Vec<T>, make: impl FnOnce() -> T) {
    if records.len() == records.capacity() {
        records.reserve(1);
    }
    let len = records.len();
    // SAFETY: there is room for one more record (reserved above), the slot at `len` is
    // initialised by the write before `set_len` makes it part of the vector, and `make` cannot
    // reach `records`.
    unsafe {
        records.as_mut_ptr().add(len).write(make());
        records.set_len(len + 1);
    }
}

/// This thread's log, while its thread-local is alive.
///
/// The hot functions take the log this way rather than through [`with_log`], so that their
/// whole body inlines into their caller.
#[inline(always)]
fn log_mut<'a>() -> Option<&'a mut LocalLog> {
    let log = LOG.try_with(|log| log.get()).ok()?;
    // SAFETY: callers use the reference only within one call, on this thread, while the
    // thread-local is alive (`try_with` succeeded just now), and never call user code or
    // another function that takes the log meanwhile, so no two `&mut` to it exist at once.
    Some(unsafe { &mut *log })
}

#[inline(always)]
fn with_log<R>(f: impl FnOnce(&mut LocalLog) -> R) -> Option<R> {
    log_mut().map(f)
}

/// Whether no frame at all is on this thread's stack.
pub(crate) fn stack_is_empty() -> bool {
    with_log(|log| log.stack.is_empty()).unwrap_or(true)
}

/// Whether this thread is one of Threadline's own, or running an exporter.
#[inline]
pub(crate) fn is_internal() -> bool {
    INTERNAL.with(|i| i.get())
}

/// Marks this thread as one of Threadline's own for good: it records no spans.
pub(crate) fn mark_internal_thread() {
    INTERNAL.with(|i| i.set(true));
    TOP.with(|t| t.set(TOP_UNSAMPLED));
}

/// Runs `f` (an exporter call) with recording off on this thread.
pub(crate) fn internal<R>(f: impl FnOnce() -> R) -> R {
    let was = INTERNAL.with(|i| i.replace(true));
    TOP.with(|t| t.set(TOP_UNSAMPLED));
    let result = f();
    INTERNAL.with(|i| i.set(was));
    match with_log(|log| log.refresh_top()) {
        Some(()) => {}
        None => TOP.with(|t| t.set(if was { TOP_UNSAMPLED } else { TOP_NONE })),
    }
    result
}

/// What the parent of a new span is.
pub(crate) struct ParentInfo {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: u64,
    pub(crate) sampled: bool,
    pub(crate) remote: bool,
    pub(crate) trace_state: TraceState,
}

/// The current span's identity, if any.
pub(crate) fn current_parent() -> Option<ParentInfo> {
    with_log(|log| {
        log.top().map(|f| ParentInfo {
            trace_id: f.trace_id,
            span_id: f.span_id,
            sampled: f.sampled,
            remote: f.remote,
            trace_state: f.trace_state.clone(),
        })
    })
    .flatten()
}

/// The trace id and tracestate of an entered span of this thread.
pub(crate) fn frame_context(span_id: u64) -> Option<(TraceId, TraceState)> {
    with_log(|log| {
        log.stack
            .iter()
            .rev()
            .find(|f| f.span_id == span_id && !f.ended)
            .map(|f| (f.trace_id, f.trace_state.clone()))
    })
    .flatten()
}

/// What kind of span a frame holds, without its storage.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameClass {
    Local,
    Owned,
    Context,
}

/// A handle on the current span, as stored on the stack.
pub(crate) fn current_frame() -> Option<(TraceId, u64, bool, FrameClass)> {
    with_log(|log| {
        log.top().map(|f| {
            let class = match f.kind {
                FrameKind::Local => FrameClass::Local,
                FrameKind::Owned(_) => FrameClass::Owned,
                FrameKind::Context => FrameClass::Context,
            };
            (f.trace_id, f.span_id, f.sampled, class)
        })
    })
    .flatten()
}

/// Starts a sampled child of the current sampled span, if there is one: the common case,
/// kept free of sampler calls and allocation.
#[inline]
pub(crate) fn start_child(
    name: Str,
    pipeline: Option<u32>,
    kind: SpanKind,
) -> Result<(u64, u32), Str> {
    let Some(log) = log_mut() else {
        return Err(name);
    };
    {
        let (trace_id, parent_id, parent_pipeline, trace_state_empty) = match log.stack.last() {
            Some(f) if !f.ended && f.sampled && !f.remote => {
                (f.trace_id, f.span_id, f.pipeline, f.trace_state.is_empty())
            }
            _ => return Err(name),
        };
        if !trace_state_empty {
            return Err(name);
        }
        let span_id = crate::id::next_random();
        let pipeline = pipeline.unwrap_or(parent_pipeline);
        push_in_place(&mut log.records, || {
            Record::Start(Start {
                span_id,
                parent_id,
                trace_id: split(trace_id),
                name,
                ticks: clock::now(),
                pipeline,
                kind,
                parent_is_remote: false,
            })
        });
        let depth = log.stack.len() as u32;
        let generation = log.generation;
        push_in_place(&mut log.stack, || Frame {
            trace_id,
            span_id,
            trace_state: TraceState::EMPTY,
            pipeline,
            sampled: true,
            remote: false,
            ended: false,
            kind: FrameKind::Local,
            generation,
        });
        Ok((span_id, depth))
    }
}

/// Starts a root span when this thread has no current span: the other common case, kept off
/// the general path. Gives the name back when there is a current span after all.
#[inline]
pub(crate) fn start_root(
    name: Str,
    trace_id: TraceId,
    sampled: bool,
    pipeline: u32,
    kind: SpanKind,
) -> Result<(u64, u32), Str> {
    let mut name = Some(name);
    let started = with_log(|log| {
        if !log.stack.is_empty() {
            return None;
        }
        let span_id = crate::id::next_random();
        if sampled {
            let name = name.take().unwrap_or_default();
            push_in_place(&mut log.records, || {
                Record::Start(Start {
                    span_id,
                    parent_id: 0,
                    trace_id: split(trace_id),
                    name,
                    ticks: clock::now(),
                    pipeline,
                    kind,
                    parent_is_remote: false,
                })
            });
        }
        log.stack.push(Frame {
            trace_id,
            span_id,
            trace_state: TraceState::EMPTY,
            pipeline,
            sampled,
            remote: false,
            ended: false,
            kind: FrameKind::Local,
            generation: log.generation,
        });
        TOP.with(|t| t.set(if sampled { TOP_SAMPLED } else { TOP_UNSAMPLED }));
        Some((span_id, 0))
    })
    .flatten();
    match started {
        Some(started) => Ok(started),
        None => Err(name.unwrap_or_default()),
    }
}

/// Everything a span start may need beyond the fast path.
pub(crate) struct StartArgs {
    pub(crate) name: Str,
    pub(crate) kind: SpanKind,
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: u64,
    pub(crate) parent_is_remote: bool,
    pub(crate) trace_state: TraceState,
    pub(crate) pipeline: u32,
    pub(crate) sampled: bool,
    pub(crate) changes: Vec<Change>,
}

/// Starts a local span with an explicit identity and enters it. Returns its id and depth.
pub(crate) fn start_local(args: StartArgs) -> Option<(u64, u32)> {
    with_log(|log| {
        let span_id = crate::id::next_random();
        if args.sampled {
            let ticks = clock::now();
            log.records.push(Record::Start(Start {
                span_id,
                parent_id: args.parent_id,
                trace_id: split(args.trace_id),
                name: args.name,
                ticks,
                pipeline: args.pipeline,
                kind: args.kind,
                parent_is_remote: args.parent_is_remote,
            }));
            if !args.trace_state.is_empty() {
                log.records.push(Record::Change {
                    span_id,
                    change: Change::TraceState(args.trace_state.clone()),
                });
            }
            for change in args.changes {
                log.records.push(Record::Change { span_id, change });
            }
        }
        let depth = log.stack.len() as u32;
        log.stack.push(Frame {
            trace_id: args.trace_id,
            span_id,
            trace_state: args.trace_state,
            pipeline: args.pipeline,
            sampled: args.sampled,
            remote: false,
            ended: false,
            kind: FrameKind::Local,
            generation: log.generation,
        });
        log.refresh_top();
        (span_id, depth)
    })
}

/// Pushes a frame for a span that is not recorded in the log (an owned span or a context).
pub(crate) fn push_frame(frame: Frame) -> Option<u32> {
    with_log(|log| {
        let depth = log.stack.len() as u32;
        log.stack.push(frame);
        log.refresh_top();
        depth
    })
}

/// Pops (or marks ended) the frame at `depth` that holds `span_id`, writing an end record when
/// it is a sampled local span.
pub(crate) fn end_frame(span_id: u64, depth: u32) {
    let Some(log) = log_mut() else {
        return;
    };
    {
        let depth = depth as usize;
        let index = match log.stack.get(depth) {
            Some(f) if f.span_id == span_id && !f.ended => depth,
            _ => match log
                .stack
                .iter()
                .rposition(|f| f.span_id == span_id && !f.ended)
            {
                Some(i) => i,
                None => return,
            },
        };
        let frame = &mut log.stack[index];
        if frame.sampled && matches!(frame.kind, FrameKind::Local) {
            if frame.generation != log.generation {
                log.foreign_ends = true;
            }
            push_in_place(&mut log.records, || Record::End {
                span_id,
                ticks: clock::now(),
            });
        }
        if index + 1 == log.stack.len() {
            log.stack.pop();
            while log.stack.last().is_some_and(|f| f.ended) {
                log.stack.pop();
            }
        } else {
            log.stack[index].ended = true;
        }
        log.refresh_top();
        log.after_end();
    }
}

/// Ends the innermost entered span, whatever entered it (the seed API's `end_span`).
pub(crate) fn end_top() {
    let top = with_log(|log| {
        log.stack
            .iter()
            .enumerate()
            .rev()
            .find(|(_, f)| !f.ended)
            .map(|(i, f)| (f.span_id, i as u32))
    })
    .flatten();
    if let Some((span_id, depth)) = top {
        end_frame(span_id, depth);
    }
}

/// Records a change to a span. Changes to a span entered from a `Span` go to that span's own
/// storage; changes to a local span go to the log.
///
/// The change is complete before the log is touched: building it may run user code (`Into`
/// impls, iterators), which may itself record changes.
#[inline(always)]
pub(crate) fn change(span_id: u64, owned: bool, change: Change) {
    if owned {
        change_owned(span_id, change);
        return;
    }
    if let Some(log) = log_mut() {
        push_in_place(&mut log.records, || Record::Change { span_id, change });
        log.after_change();
    }
}

#[inline(never)]
fn change_owned(span_id: u64, change: Change) {
    let cell = with_log(|log| {
        log.stack
            .iter()
            .rev()
            .find(|f| f.span_id == span_id && !f.ended)
            .and_then(|f| match &f.kind {
                FrameKind::Owned(cell) => Some(cell.clone()),
                _ => None,
            })
    })
    .flatten();
    if let Some(cell) = cell {
        let mut data = cell.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(span) = data.as_mut() {
            span.apply(change);
        }
    }
}

/// Hands a finished owned span to the collector.
pub(crate) fn finish_owned(span: Box<PartialSpan>) {
    let mut slot = Some(span);
    with_log(|log| {
        if let Some(span) = slot.take() {
            log.records.push(Record::Owned(span));
            log.after_end();
        }
    });
    if let Some(span) = slot {
        // The thread is exiting and its log is gone: hand the span over directly.
        crate::collector::submit_direct(*span);
    }
}

/// Moves this thread's records to the collector now.
pub(crate) fn submit_current_thread() {
    with_log(|log| log.submit());
}

#[inline]
pub(crate) fn split(id: TraceId) -> [u64; 2] {
    [(id.0 >> 64) as u64, id.0 as u64]
}

#[inline]
pub(crate) fn join(parts: [u64; 2]) -> TraceId {
    TraceId(((parts[0] as u128) << 64) | parts[1] as u128)
}
