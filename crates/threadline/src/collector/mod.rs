//! The collector: one background thread that drains every thread's ring, assembles spans and
//! hands them to their pipelines. All span assembly happens here, off the instrumented threads.

pub(crate) mod assemble;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, RwLock};
use std::time::{Duration, Instant};

use crate::clock::Converter;
use crate::data::{Resource, SpanData};
use crate::export::processor::Processor;
use crate::export::FlushError;
use crate::id::SpanId;
use crate::limits::SpanLimits;
use crate::local::{join, Record, ThreadChannel};
use crate::value::Str;
use assemble::PartialSpan;

/// The instant `timeout` from now; a timeout too large to represent means no deadline.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600))
}

/// How long the collector sleeps when it found nothing to do.
const IDLE_INTERVAL: Duration = Duration::from_millis(10);
/// How long it sleeps between busy rounds.
const BUSY_INTERVAL: Duration = Duration::from_millis(1);
/// Open spans kept per thread; a thread that opens more without closing them loses the excess.
const MAX_OPEN_PER_THREAD: usize = 1 << 16;
/// Buffers larger than this are not recycled, so one burst does not pin memory forever.
const MAX_RECYCLED_CAPACITY: usize = 4096;
/// Recycled buffers waiting per thread, at most.
const MAX_RECYCLED_BUFFERS: usize = 8;

/// Counters of one pipeline.
///
/// Every span that reaches the collector ends up in exactly one of `exported`, `failed` or
/// `dropped`, or is still `queued`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct PipelineStats {
    /// Spans the exporter accepted.
    pub exported: u64,
    /// Spans in batches the exporter failed to deliver.
    pub failed: u64,
    /// Spans dropped because a buffer or queue was full, or the pipeline was shut down.
    pub dropped: u64,
    /// Spans waiting in the export queue.
    pub queued: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) exported: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) dropped: AtomicU64,
}

/// Where a tracer's spans go: resource, limits, processor and counters.
pub(crate) struct Pipeline {
    pub(crate) id: u32,
    pub(crate) resource: Arc<Resource>,
    pub(crate) scope: Str,
    pub(crate) limits: SpanLimits,
    pub(crate) processor: Processor,
    pub(crate) counters: Arc<Counters>,
    shut_down: AtomicBool,
}

impl Pipeline {
    pub(crate) fn stats(&self) -> PipelineStats {
        PipelineStats {
            exported: self.counters.exported.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
            queued: self.processor.queued() as u64,
        }
    }

    pub(crate) fn force_flush(&self, deadline: Instant) -> Result<(), FlushError> {
        if self.shut_down.load(Ordering::Acquire) {
            return Err(FlushError::Shutdown);
        }
        self.processor.force_flush(deadline)
    }

    pub(crate) fn shutdown(&self, deadline: Instant) -> Result<(), FlushError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // The pipeline stays registered: spans that reach it later are counted as dropped.
        self.processor.shutdown(deadline)
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    fn accept(&self, spans: Vec<SpanData>) {
        if self.shut_down.load(Ordering::Acquire) {
            self.counters
                .dropped
                .fetch_add(spans.len() as u64, Ordering::Relaxed);
            return;
        }
        self.processor.on_end(spans);
    }
}

static NEW_CHANNELS: Mutex<Vec<Arc<ThreadChannel>>> = Mutex::new(Vec::new());
static DIRECT: Mutex<Vec<PartialSpan>> = Mutex::new(Vec::new());
/// Pipelines by id. Id 0 is never used, so a zeroed record cannot reach a real pipeline.
static PIPELINES: RwLock<Vec<Option<Arc<Pipeline>>>> = RwLock::new(Vec::new());
static COLLECTOR: Mutex<Option<Collector>> = Mutex::new(None);
static STARTED: Once = Once::new();
static COLLECTOR_THREAD: std::sync::OnceLock<std::thread::Thread> = std::sync::OnceLock::new();

/// Wakes the collector early: an export queue has room again.
pub(crate) fn wake() {
    if let Some(thread) = COLLECTOR_THREAD.get() {
        thread.unpark();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn register_channel(channel: Arc<ThreadChannel>) {
    lock(&NEW_CHANNELS).push(channel);
}

pub(crate) fn submit_direct(span: PartialSpan) {
    lock(&DIRECT).push(span);
}

/// Counts spans dropped before they reached the collector.
pub(crate) fn count_dropped(pipeline: u32, spans: u64) {
    let pipelines = PIPELINES.read().unwrap_or_else(|e| e.into_inner());
    if let Some(Some(p)) = pipelines.get(pipeline as usize) {
        p.counters.dropped.fetch_add(spans, Ordering::Relaxed);
    }
}

pub(crate) fn register_pipeline(
    resource: Arc<Resource>,
    scope: Str,
    limits: SpanLimits,
    counters: Arc<Counters>,
    processor: Processor,
) -> Arc<Pipeline> {
    crate::clock::init();
    let mut pipelines = PIPELINES.write().unwrap_or_else(|e| e.into_inner());
    if pipelines.is_empty() {
        pipelines.push(None);
    }
    let pipeline = Arc::new(Pipeline {
        id: pipelines.len() as u32,
        resource,
        scope,
        limits,
        processor,
        counters,
        shut_down: AtomicBool::new(false),
    });
    pipelines.push(Some(pipeline.clone()));
    drop(pipelines);
    start_background();
    pipeline
}

/// Every live pipeline.
pub(crate) fn pipelines() -> Vec<Arc<Pipeline>> {
    PIPELINES
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .flatten()
        .cloned()
        .collect()
}

fn start_background() {
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("threadline-collector".into())
            .spawn(|| {
                crate::local::mark_internal_thread();
                let _ = COLLECTOR_THREAD.set(std::thread::current());
                loop {
                    let records = collect_now();
                    std::thread::park_timeout(if records > 0 {
                        BUSY_INTERVAL
                    } else {
                        IDLE_INTERVAL
                    });
                }
            });
        if let Err(error) = spawned {
            crate::diag::warn(format_args!(
                "cannot start the collector thread, spans are collected only on flush: {error}"
            ));
        }
    });
}

/// Runs one collection round on the calling thread. Returns the number of records handled.
///
/// The spans are handed to their pipelines after the collector's lock is released, so an
/// exporter that runs inline (the simple processor) never holds up collection.
pub(crate) fn collect_now() -> usize {
    let (handled, delivery) = {
        let mut guard = lock(&COLLECTOR);
        let round = guard.get_or_insert_with(Collector::default).round();
        // Counted before the lock is released, so a flush that takes the lock next sees spans
        // that have left the rings but not yet reached their queue.
        DELIVERING.fetch_add(1, Ordering::AcqRel);
        round
    };
    for (pipeline, chunks) in delivery {
        for chunk in chunks {
            pipeline.accept(chunk);
        }
    }
    DELIVERING.fetch_sub(1, Ordering::AcqRel);
    handled
}

/// Collection rounds whose spans are on their way to the pipelines.
static DELIVERING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Finished spans to hand over, by pipeline.
type Delivery = Vec<(Arc<Pipeline>, Vec<Vec<SpanData>>)>;

/// The spans a thread has open, in start order. Guards end in reverse order, so an end or a
/// change almost always concerns the last entry: no hashing.
#[derive(Default)]
struct OpenSpans(Vec<PartialSpan>);

impl OpenSpans {
    fn position(&self, span_id: u64) -> Option<usize> {
        self.0.iter().rposition(|s| s.span_id.0 == span_id)
    }
}

struct ChannelState {
    channel: Arc<ThreadChannel>,
    open: OpenSpans,
    consumed: u64,
}

#[derive(Default)]
struct Collector {
    channels: Vec<ChannelState>,
    /// Where the next round starts, so that a busy thread cannot starve the others.
    next: usize,
}

struct Round {
    /// The registry as this round knows it. Ids only grow, so an id past its end belongs to a
    /// pipeline registered since: [`Round::know`] reads the registry again.
    pipelines: Vec<Option<Arc<Pipeline>>>,
    clock: Converter,
    /// Finished spans per pipeline, in chunks of at most the pipeline's export batch size.
    out: Vec<(u32, Vec<Vec<SpanData>>)>,
    emitted: usize,
}

impl Round {
    fn know(&mut self, id: u32) {
        if id as usize >= self.pipelines.len() {
            self.pipelines = PIPELINES.read().unwrap_or_else(|e| e.into_inner()).clone();
        }
    }

    fn pipeline(&mut self, id: u32) -> Option<&Arc<Pipeline>> {
        self.know(id);
        self.pipelines.get(id as usize).and_then(Option::as_ref)
    }

    fn emit(&mut self, span: PartialSpan) {
        self.know(span.pipeline);
        if let Some(pipeline) = self
            .pipelines
            .get(span.pipeline as usize)
            .and_then(Option::as_ref)
        {
            let max = pipeline.processor.max_chunk();
            // One or two pipelines in practice: a scan beats hashing.
            let index = match self.out.iter().position(|(id, _)| *id == pipeline.id) {
                Some(i) => i,
                None => {
                    self.out.push((pipeline.id, Vec::new()));
                    self.out.len() - 1
                }
            };
            let chunks = &mut self.out[index].1;
            match chunks.last_mut() {
                Some(chunk) if chunk.len() < max => {}
                _ => chunks.push(pipeline.processor.chunk_buffer()),
            }
            if let Some(chunk) = chunks.last_mut() {
                let clock = &self.clock;
                crate::local::push_in_place(chunk, || {
                    span.finish(clock, &pipeline.resource, &pipeline.scope)
                });
            }
            self.emitted += 1;
        }
    }

    fn drop_spans(&mut self, pipeline: u32, n: u64) {
        if let Some(p) = self.pipeline(pipeline) {
            p.counters.dropped.fetch_add(n, Ordering::Relaxed);
        }
    }

    fn process(&mut self, open: &mut OpenSpans, record: Record) {
        match record {
            Record::Start(start) => {
                if open.0.len() >= MAX_OPEN_PER_THREAD {
                    // Something keeps spans open without end; give up the oldest so the
                    // thread's new spans still get through.
                    let oldest = open.0.remove(0);
                    self.drop_spans(oldest.pipeline, 1);
                }
                let limits = self
                    .pipeline(start.pipeline)
                    .map(|p| p.limits)
                    .unwrap_or_default();
                crate::local::push_in_place(&mut open.0, || {
                    PartialSpan::new(
                        join(start.trace_id),
                        SpanId(start.span_id),
                        SpanId(start.parent_id),
                        start.parent_is_remote,
                        start.name,
                        start.kind,
                        start.pipeline,
                        start.ticks,
                        limits,
                    )
                });
            }
            Record::Change { span_id, change } => {
                if let Some(i) = open.position(span_id) {
                    open.0[i].apply(change);
                }
            }
            Record::End { span_id, ticks } => {
                let span = match open.0.last() {
                    Some(last) if last.span_id.0 == span_id => open.0.pop(),
                    _ => open.position(span_id).map(|i| open.0.remove(i)),
                };
                if let Some(mut span) = span {
                    span.end_ticks = ticks;
                    self.emit(span);
                }
            }
            Record::Owned(span) => self.emit(*span),
        }
    }
}

impl Collector {
    fn round(&mut self) -> (usize, Delivery) {
        self.channels
            .extend(lock(&NEW_CHANNELS).drain(..).map(|channel| ChannelState {
                channel,
                open: OpenSpans::default(),
                consumed: 0,
            }));
        let pipelines = PIPELINES.read().unwrap_or_else(|e| e.into_inner()).clone();
        let budget = drain_budget(&pipelines);
        let mut round = Round {
            pipelines,
            clock: Converter::current(),
            out: Vec::new(),
            emitted: 0,
        };
        let mut handled = 0;
        let count = self.channels.len();
        for k in 0..count {
            let state = &mut self.channels[(self.next + k) % count];
            while round.emitted < budget {
                // SAFETY: the collector, behind its mutex, is the only consumer of `batches`
                // and the only producer of `recycled`.
                let Some(mut batch) = (unsafe { state.channel.batches.pop() }) else {
                    break;
                };
                handled += batch.len();
                state.consumed += batch.len() as u64;
                for record in batch.drain(..) {
                    round.process(&mut state.open, record);
                }
                state
                    .channel
                    .consumed
                    .store(state.consumed, Ordering::Release);
                if batch.capacity() <= MAX_RECYCLED_CAPACITY
                    && state.channel.recycled.len() < MAX_RECYCLED_BUFFERS
                {
                    let _ = unsafe { state.channel.recycled.push(batch) };
                }
            }
        }
        self.next = self.next.wrapping_add(1);
        let direct: Vec<_> = lock(&DIRECT).drain(..).collect();
        handled += direct.len();
        for span in direct {
            round.emit(span);
        }
        self.channels.retain_mut(|state| {
            let finished =
                state.channel.closed.load(Ordering::Acquire) && state.channel.batches.len() == 0;
            if finished {
                for span in state.open.0.drain(..) {
                    round.drop_spans(span.pipeline, 1);
                }
            }
            !finished
        });
        if round.emitted >= budget {
            for pipeline in round.pipelines.iter().flatten() {
                pipeline.processor.want_room();
            }
        }
        let known = &round.pipelines;
        let delivery = round
            .out
            .drain(..)
            .filter_map(|(id, chunks)| {
                let pipeline = known.get(id as usize).and_then(Option::as_ref)?;
                Some((pipeline.clone(), chunks))
            })
            .collect();
        (handled, delivery)
    }
}

/// How many spans to take from the threads this round.
///
/// With one batch pipeline (the usual case) this is the room in its queue: the rest waits in
/// the threads' bounded rings instead of being dropped here, so a slow exporter slows the
/// collector rather than losing spans. With several pipelines it is the largest room, so a
/// stuck exporter loses its own spans (dropped and counted at its queue) and never holds up
/// the others. Pipelines that export inline take everything.
fn drain_budget(pipelines: &[Option<Arc<Pipeline>>]) -> usize {
    let mut budget: Option<usize> = None;
    for pipeline in pipelines.iter().flatten().filter(|p| !p.is_shut_down()) {
        match pipeline.processor.room() {
            Some(room) => budget = Some(budget.map_or(room, |b| b.max(room))),
            None if pipeline.processor.takes_spans() => return usize::MAX,
            None => {}
        }
    }
    budget.unwrap_or(usize::MAX)
}

/// Records waiting in the threads' rings, plus rounds still delivering.
fn backlog() -> usize {
    let pending: usize = lock(&NEW_CHANNELS).iter().map(|c| c.batches.len()).sum();
    let collected: usize = lock(&COLLECTOR)
        .as_ref()
        .map(|c| c.channels.iter().map(|s| s.channel.batches.len()).sum())
        .unwrap_or(0);
    pending + collected + DELIVERING.load(Ordering::Acquire)
}

/// Collects and exports until the threads' rings and the pipeline's queue are empty, or the
/// deadline passes. The collector takes only what the export queue has room for, and the
/// background collector may move spans at any time, so this repeats until a pass finds
/// nothing anywhere.
pub(crate) fn flush_pipeline(pipeline: &Pipeline, deadline: Instant) -> Result<(), FlushError> {
    if crate::local::is_internal() {
        return Err(FlushError::Reentrant);
    }
    let mut flushed = false;
    loop {
        crate::local::submit_current_thread();
        let handled = collect_now();
        let idle = handled == 0 && backlog() == 0;
        if idle && flushed && pipeline.processor.queued() == 0 {
            return Ok(());
        }
        pipeline.force_flush(deadline)?;
        flushed = true;
        crate::local::submit_current_thread();
        if idle && backlog() == 0 && pipeline.processor.queued() == 0 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(FlushError::Timeout);
        }
    }
}

/// Flushes every live pipeline.
pub(crate) fn flush_all(deadline: Instant) -> Result<(), FlushError> {
    let mut result = Ok(());
    for pipeline in pipelines() {
        if let Err(e) = flush_pipeline(&pipeline, deadline) {
            result = Err(e);
        }
    }
    result
}
