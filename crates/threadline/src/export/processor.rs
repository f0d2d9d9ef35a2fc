//! Processors: how finished spans reach an exporter.

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::collector::Counters;
use crate::data::SpanData;
use crate::export::{ExportError, Exporter, FlushError};

/// The batch processor's settings; the defaults are OpenTelemetry's.
///
/// # Examples
///
/// ```
/// use threadline::BatchConfig;
/// let config = BatchConfig::default();
/// assert_eq!(config.max_queue_size, 2048);
/// assert_eq!(config.max_export_batch_size, 512);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BatchConfig {
    /// Spans waiting for export at most; more are dropped and counted (`OTEL_BSP_MAX_QUEUE_SIZE`).
    pub max_queue_size: usize,
    /// Longest wait before a partial batch is exported (`OTEL_BSP_SCHEDULE_DELAY`).
    pub scheduled_delay: Duration,
    /// Spans per export call at most (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`).
    pub max_export_batch_size: usize,
    /// How long an export may take, passed on to exporters that honour it
    /// (`OTEL_BSP_EXPORT_TIMEOUT`).
    pub export_timeout: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_size: 2048,
            scheduled_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
        }
    }
}

pub(crate) enum Processor {
    /// No exporter: spans are counted as dropped.
    None(Arc<Counters>),
    Simple(Mutex<Box<dyn Exporter>>, Arc<Counters>),
    Batch(Arc<BatchShared>),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Exports one batch and counts the outcome; the first failure of each kind is reported.
/// Runs an exporter call with recording off on this thread, turning a panic into an error so
/// one faulty exporter cannot take the pipeline down.
pub(crate) fn guarded(f: impl FnOnce() -> Result<(), ExportError>) -> Result<(), ExportError> {
    crate::local::internal(|| {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            Err(ExportError::Panicked(message))
        })
    })
}

fn export_counted(exporter: &mut dyn Exporter, batch: &[SpanData], counters: &Counters) {
    let n = batch.len() as u64;
    if n == 0 {
        return;
    }
    match guarded(|| exporter.export(batch)) {
        Ok(()) => {
            counters.exported.fetch_add(n, Ordering::Relaxed);
        }
        Err(error) => {
            // The first failure, then one line per 10,000 failed spans: a backend that stays
            // down must not flood standard error (exporters report their own details once).
            let before = counters.failed.fetch_add(n, Ordering::Relaxed);
            if before == 0 || before / 10_000 != (before + n) / 10_000 {
                crate::diag::warn(format_args!(
                    "export failed, spans = {n}, failed_total = {}, error = {error}",
                    before + n
                ));
            }
        }
    }
}

impl Processor {
    pub(crate) fn none(counters: Arc<Counters>) -> Self {
        Processor::None(counters)
    }

    pub(crate) fn simple(exporter: Box<dyn Exporter>, counters: Arc<Counters>) -> Self {
        Processor::Simple(Mutex::new(exporter), counters)
    }

    pub(crate) fn batch(
        exporter: Box<dyn Exporter>,
        config: BatchConfig,
        counters: Arc<Counters>,
    ) -> Self {
        let config = BatchConfig {
            max_queue_size: config.max_queue_size.max(1),
            max_export_batch_size: config
                .max_export_batch_size
                .clamp(1, config.max_queue_size.max(1)),
            ..config
        };
        let shared = Arc::new(BatchShared {
            state: Mutex::new(BatchState {
                queue: Chunks::default(),
                flush_requested: 0,
                flush_done: 0,
                flush_error: None,
                shutdown: false,
                stopped: false,
            }),
            wake_worker: Condvar::new(),
            progress: Condvar::new(),
            config,
            counters,
            collector_waiting: AtomicBool::new(false),
            spare: Mutex::new(Vec::new()),
        });
        let worker = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("threadline-export".into())
            .spawn(move || {
                crate::local::mark_internal_thread();
                worker.run(exporter)
            });
        if let Err(error) = spawned {
            crate::diag::warn(format_args!(
                "cannot start the export thread, spans will be dropped: {error}"
            ));
            lock(&shared.state).stopped = true;
        }
        Processor::Batch(shared)
    }

    /// Takes a chunk of finished spans.
    pub(crate) fn on_end(&self, spans: Vec<SpanData>) {
        match self {
            Processor::None(counters) => {
                counters
                    .dropped
                    .fetch_add(spans.len() as u64, Ordering::Relaxed);
            }
            Processor::Simple(exporter, counters) => {
                export_counted(&mut **lock(exporter), &spans, counters);
            }
            Processor::Batch(shared) => shared.enqueue(spans),
        }
    }

    /// The largest chunk worth handing over at once.
    pub(crate) fn max_chunk(&self) -> usize {
        match self {
            Processor::Batch(shared) => shared.config.max_export_batch_size,
            _ => 4096,
        }
    }

    /// An empty buffer for a chunk of spans, recycled from earlier exports when possible.
    pub(crate) fn chunk_buffer(&self) -> Vec<SpanData> {
        match self {
            Processor::Batch(shared) => {
                let spare = lock(&shared.spare).pop();
                match spare {
                    // Dropped here, on the collector thread that allocated the spans'
                    // contents, where freeing them is cheapest.
                    Some(mut buffer) => {
                        buffer.clear();
                        buffer
                    }
                    None => Vec::with_capacity(shared.config.max_export_batch_size),
                }
            }
            _ => Vec::new(),
        }
    }

    /// Asks the processor to wake the collector when it has room again.
    pub(crate) fn want_room(&self) {
        if let Processor::Batch(shared) = self {
            shared.collector_waiting.store(true, Ordering::Release);
        }
    }

    /// How many more spans a batch processor's queue takes without dropping; `None` for
    /// processors without a queue.
    pub(crate) fn room(&self) -> Option<usize> {
        match self {
            Processor::Batch(shared) => {
                let state = lock(&shared.state);
                if state.shutdown || state.stopped {
                    None
                } else {
                    Some(
                        shared
                            .config
                            .max_queue_size
                            .saturating_sub(state.queue.len()),
                    )
                }
            }
            _ => None,
        }
    }

    /// Whether spans handed to this processor go anywhere (it has an exporter).
    pub(crate) fn takes_spans(&self) -> bool {
        !matches!(self, Processor::None(_))
    }

    pub(crate) fn queued(&self) -> usize {
        match self {
            Processor::Batch(shared) => lock(&shared.state).queue.len(),
            _ => 0,
        }
    }

    pub(crate) fn force_flush(&self, deadline: Instant) -> Result<(), FlushError> {
        match self {
            Processor::None(_) => Ok(()),
            Processor::Simple(exporter, _) => {
                let mut exporter = lock(exporter);
                guarded(|| exporter.force_flush()).map_err(|e| FlushError::Exporter(e.to_string()))
            }
            Processor::Batch(shared) => shared.flush(deadline, false),
        }
    }

    pub(crate) fn shutdown(&self, deadline: Instant) -> Result<(), FlushError> {
        match self {
            Processor::None(_) => Ok(()),
            Processor::Simple(exporter, _) => {
                let mut exporter = lock(exporter);
                guarded(|| exporter.shutdown()).map_err(|e| FlushError::Exporter(e.to_string()))
            }
            Processor::Batch(shared) => shared.flush(deadline, true),
        }
    }
}

pub(crate) struct BatchShared {
    state: Mutex<BatchState>,
    wake_worker: Condvar,
    progress: Condvar,
    config: BatchConfig,
    counters: Arc<Counters>,
    /// The collector stopped taking spans because this queue was full.
    collector_waiting: AtomicBool,
    /// Emptied export buffers, handed back to the collector for the next chunks.
    spare: Mutex<Vec<Vec<SpanData>>>,
}

/// The export queue: chunks of spans as the collector handed them over, so spans are moved
/// once into the queue and once out of it, never one by one.
#[derive(Default)]
struct Chunks {
    chunks: VecDeque<Vec<SpanData>>,
    len: usize,
}

impl Chunks {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, chunk: Vec<SpanData>) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Up to `max` spans, oldest first.
    fn take(&mut self, max: usize) -> Vec<SpanData> {
        let Some(mut batch) = self.chunks.pop_front() else {
            return Vec::new();
        };
        if batch.len() > max {
            let rest = batch.split_off(max);
            self.chunks.push_front(rest);
        }
        while let Some(next) = self.chunks.front() {
            if batch.len() + next.len() > max {
                break;
            }
            let next = self.chunks.pop_front().unwrap_or_default();
            batch.extend(next);
        }
        self.len -= batch.len();
        batch
    }

    fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }
}

struct BatchState {
    queue: Chunks,
    flush_requested: u64,
    flush_done: u64,
    flush_error: Option<String>,
    shutdown: bool,
    stopped: bool,
}

impl BatchShared {
    /// Keeps an exported buffer for reuse (the collector empties it); enough to fill the
    /// queue, no more.
    fn recycle(&self, buffer: Vec<SpanData>) {
        let keep = self.config.max_queue_size / self.config.max_export_batch_size + 2;
        let mut spare = lock(&self.spare);
        if spare.len() < keep && buffer.capacity() <= 2 * self.config.max_export_batch_size {
            spare.push(buffer);
        }
    }

    fn enqueue(&self, mut spans: Vec<SpanData>) {
        let mut state = lock(&self.state);
        if state.shutdown || state.stopped {
            self.counters
                .dropped
                .fetch_add(spans.len() as u64, Ordering::Relaxed);
            return;
        }
        let room = self.config.max_queue_size.saturating_sub(state.queue.len());
        let total = spans.len();
        if total > room {
            self.counters
                .dropped
                .fetch_add((total - room) as u64, Ordering::Relaxed);
            spans.truncate(room);
        }
        state.queue.push(spans);
        if state.queue.len() >= self.config.max_export_batch_size {
            self.wake_worker.notify_one();
        }
    }

    fn flush(&self, deadline: Instant, shutdown: bool) -> Result<(), FlushError> {
        let mut state = lock(&self.state);
        if state.stopped {
            return if shutdown {
                Ok(())
            } else {
                Err(FlushError::Shutdown)
            };
        }
        if shutdown {
            state.shutdown = true;
        }
        state.flush_requested += 1;
        let ticket = state.flush_requested;
        self.wake_worker.notify_one();
        loop {
            if state.flush_done >= ticket || (shutdown && state.stopped) {
                return match state.flush_error.take() {
                    Some(e) => Err(FlushError::Exporter(e)),
                    None => Ok(()),
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(FlushError::Timeout);
            }
            state = self
                .progress
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn run(&self, mut exporter: Box<dyn Exporter>) {
        let delay = self.config.scheduled_delay;
        let max_batch = self.config.max_export_batch_size;
        let mut last_export = Instant::now();
        let mut state = lock(&self.state);
        loop {
            // Sleep until a batch is full, the schedule is due, or someone asks.
            loop {
                let now = Instant::now();
                let next = last_export.checked_add(delay);
                let due = !state.queue.is_empty() && next.is_some_and(|next| now >= next);
                if state.shutdown
                    || state.flush_requested > state.flush_done
                    || state.queue.len() >= max_batch
                    || due
                {
                    break;
                }
                let wait = if state.queue.is_empty() {
                    delay
                } else {
                    next.map_or(delay, |next| next.saturating_duration_since(now))
                };
                state = self
                    .wake_worker
                    .wait_timeout(state, wait)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            let flush_target = state.flush_requested;
            let drain_all = flush_target > state.flush_done || state.shutdown;
            while !state.queue.is_empty() {
                let due = last_export
                    .checked_add(delay)
                    .is_some_and(|next| Instant::now() >= next);
                if !drain_all && !due && state.queue.len() < max_batch {
                    break;
                }
                let batch = state.queue.take(max_batch);
                drop(state);
                export_counted(&mut *exporter, &batch, &self.counters);
                self.recycle(batch);
                if self.collector_waiting.swap(false, Ordering::AcqRel) {
                    crate::collector::wake();
                }
                last_export = Instant::now();
                state = lock(&self.state);
            }
            if drain_all {
                let shutdown = state.shutdown;
                drop(state);
                let result = if shutdown {
                    guarded(|| exporter.shutdown())
                } else {
                    guarded(|| exporter.force_flush())
                };
                state = lock(&self.state);
                if let Err(e) = result {
                    state.flush_error = Some(e.to_string());
                }
                state.flush_done = flush_target;
                if shutdown {
                    // Whatever arrived during shutdown is counted, not silently lost.
                    let left = state.queue.len() as u64;
                    state.queue.clear();
                    self.counters.dropped.fetch_add(left, Ordering::Relaxed);
                    state.stopped = true;
                    self.progress.notify_all();
                    return;
                }
                self.progress.notify_all();
            }
        }
    }
}
