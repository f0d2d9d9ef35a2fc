//! Memory stays bounded when the exporter stalls, and every span is accounted for.
//!
//! Millions of spans are made while the exporter is blocked inside `export()`. The batch
//! processor's queue is bounded, so the spans beyond it must be dropped and counted rather
//! than kept. Memory is read from `/proc/self/status` (Linux); elsewhere only the counting is
//! checked.
//!
//! Other tests stall the collector itself (a blocked exporter behind the *simple* processor
//! runs on the collector thread) to fill a thread's ring deterministically, and check the
//! counting, what a flush delivers, and that one stuck exporter does not stop other tracers.
//!
//! Every test here takes [`SERIAL`]: the memory measurements must not overlap, and a stalled
//! collector stalls every tracer of the process.
//!
//! # The memory bound
//!
//! What may legitimately be held while the exporter is stuck:
//!
//! - the export queue, `max_queue_size` = 2048 spans, plus the batch inside the blocked
//!   `export()` call, `max_export_batch_size` = 512 spans: 2560 × `size_of::<SpanData>()`
//!   (about 340 bytes; the names here are `'static`, so nothing more on the heap) ≈ 0.9 MB;
//! - the producing thread's buffers towards the collector: its ring holds at most 1024
//!   batches; a batch is one tree here (root + 99 children = 200 records of about 80 bytes,
//!   16 KB), so 1024 batches are 16 MB, and the recycled-buffer ring that comes back holds
//!   buffers of the same sizes, another 16 MB; the log itself is discarded (and counted) past
//!   64K records, 5 MB;
//! - the collector's open spans (bounded per thread) and allocator slack.
//!
//! That is about 40 MB. The 100 MB bound leaves room for fragmentation, while anything that
//! keeps spans in proportion to their number fails it clearly: 10 M spans are 3.4 GB of
//! `SpanData` alone, 1 M are 340 MB.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use threadline::{BatchConfig, ExportError, Exporter, FlushError, SpanData, Tracer};

/// Growth of resident memory allowed while the exporter is blocked; see the module docs.
const BOUND_BYTES: u64 = 100 * 1024 * 1024;
/// Spans per tree: a root and 99 children.
const TREE: u64 = 100;
const QUEUE: usize = 2048;
const BATCH: usize = 512;

/// One test at a time in this file; see the module docs.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Blocks until opened; stays open.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = self.cv.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn open(&self) {
        *self.open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
}

/// An exporter whose `export()` blocks until the test opens the gate; counts what it got.
struct BlockedExporter {
    gate: Arc<Gate>,
    entered: Option<Sender<()>>,
    received: Arc<AtomicU64>,
    children: Arc<AtomicU64>,
}

impl Exporter for BlockedExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        if let Some(entered) = self.entered.take() {
            let _ = entered.send(());
        }
        self.gate.wait();
        self.received
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.children.fetch_add(
            batch.iter().filter(|s| s.name == "child").count() as u64,
            Ordering::Relaxed,
        );
        Ok(())
    }
}

/// A tracer with a blocked exporter. Dropping it opens the gate first, so that a failing
/// test does not leave the exporter (or the collector) stuck for the tests after it.
struct Run {
    tracer: Tracer,
    gate: Arc<Gate>,
    entered: Receiver<()>,
    received: Arc<AtomicU64>,
    children: Arc<AtomicU64>,
}

impl Drop for Run {
    fn drop(&mut self) {
        self.gate.open();
    }
}

impl Run {
    fn new(build: impl FnOnce(BlockedExporter) -> Tracer) -> Run {
        let gate = Arc::new(Gate::default());
        let (tx, entered) = mpsc::channel();
        let received = Arc::new(AtomicU64::new(0));
        let children = Arc::new(AtomicU64::new(0));
        let tracer = build(BlockedExporter {
            gate: gate.clone(),
            entered: Some(tx),
            received: received.clone(),
            children: children.clone(),
        });
        Run {
            tracer,
            gate,
            entered,
            received,
            children,
        }
    }

    /// Behind the batch processor, stuck exporting a first span when this returns.
    fn blocked_batch_exporter() -> Run {
        let run = Run::new(|exporter| {
            Tracer::builder()
                .batch_config(BatchConfig {
                    max_queue_size: QUEUE,
                    // Never export on the schedule: only full batches and flushes do.
                    scheduled_delay: Duration::from_secs(3600),
                    max_export_batch_size: BATCH,
                    export_timeout: Duration::from_secs(30),
                })
                .batch_exporter(exporter)
                .build()
        });
        drop(run.tracer.span("warm-up"));
        // The flush hands the span to the exporter, which blocks; the flush must give up at
        // its deadline.
        assert_eq!(
            run.tracer.flush(Duration::from_millis(50)),
            Err(FlushError::Timeout)
        );
        run.entered
            .recv_timeout(Duration::from_secs(30))
            .expect("the exporter was called");
        run
    }

    /// Behind the simple processor, whose exports run on the collector thread: the
    /// collector is stuck exporting a first span when this returns.
    fn stalled_collector() -> Run {
        let run = Run::new(|exporter| Tracer::builder().simple_exporter(exporter).build());
        // The background collector picks this span up and blocks exporting it.
        drop(run.tracer.span("trigger"));
        run.entered
            .recv_timeout(Duration::from_secs(30))
            .expect("the collector called the exporter");
        run
    }
}

/// `VmRSS` and `VmHWM` in bytes, when the platform has them.
fn memory() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Resets the peak (`VmHWM`) to the current RSS, so a peak from earlier in the process does
/// not hide this test's; Linux only, best effort.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn spans_against_a_blocked_exporter(total: u64) {
    assert_eq!(total % TREE, 0);
    let _serial = serial();
    let run = Run::blocked_batch_exporter();
    let tracer = &run.tracer;

    reset_peak();
    let before = memory();
    let started = Instant::now();
    for _ in 0..total / TREE {
        let _root = tracer.span("root");
        for _ in 0..TREE - 1 {
            let _child = tracer.span("child");
        }
    }
    let produced_in = started.elapsed();
    let stalled = tracer.stats();
    let after = memory();

    if let (Some((rss0, _)), Some((rss1, hwm1))) = (before, after) {
        let growth = rss1.saturating_sub(rss0);
        let peak_growth = hwm1.saturating_sub(rss0);
        eprintln!(
            "{total} spans in {produced_in:?}; rss {} MB -> {} MB (+{} MB), peak +{} MB; \
             size_of::<SpanData>() = {}; stats while blocked {stalled:?}",
            rss0 >> 20,
            rss1 >> 20,
            growth >> 20,
            peak_growth >> 20,
            std::mem::size_of::<SpanData>(),
        );
        assert!(
            growth < BOUND_BYTES,
            "resident memory grew by {} MB (bound {} MB) with the exporter blocked",
            growth >> 20,
            BOUND_BYTES >> 20
        );
        assert!(
            peak_growth < BOUND_BYTES,
            "peak resident memory grew by {} MB (bound {} MB) with the exporter blocked",
            peak_growth >> 20,
            BOUND_BYTES >> 20
        );
    }
    // The exporter is still stuck: nothing was exported, and the queue is within its bound.
    assert_eq!(stalled.exported, 0, "{stalled:?}");
    assert!(stalled.queued <= QUEUE as u64, "{stalled:?}");
    assert!(
        stalled.dropped > 0,
        "with the exporter blocked some spans must be dropped: {stalled:?}"
    );

    run.gate.open();
    let flushed_at = Instant::now();
    tracer
        .flush(Duration::from_secs(60))
        .expect("flush after the exporter is released");
    let stats = tracer.stats();
    eprintln!("after release ({:?}): {stats:?}", flushed_at.elapsed());
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.queued, 0, "{stats:?}");
    // Every span is either exported or counted as dropped (the warm-up span included).
    assert_eq!(stats.exported + stats.dropped, total + 1, "{stats:?}");
    assert_eq!(run.received.load(Ordering::Relaxed), stats.exported);
    // At least what the blocked export and the full queue held got through.
    assert!(stats.exported > QUEUE as u64, "{stats:?}");
}

#[test]
fn one_million_spans_against_a_blocked_exporter() {
    spans_against_a_blocked_exporter(1_000_000);
}

/// About 4 s unoptimised (0.3 s with `--release`) on a 2-core machine: the spans beyond the
/// queue are dropped on the recording thread, cheaply.
#[test]
fn ten_million_spans_against_a_blocked_exporter() {
    spans_against_a_blocked_exporter(10_000_000);
}

#[test]
fn a_stalled_collector_drops_and_counts_what_does_not_fit() {
    let _serial = serial();
    let run = Run::stalled_collector();
    let tracer = &run.tracer;
    // Far more trees than this thread's ring to the collector holds batches (1024).
    const TREES: u64 = 5000;
    for _ in 0..TREES {
        let _root = tracer.span("root");
        let _child = tracer.span("child");
    }
    let stalled = tracer.stats();
    assert_eq!(stalled.exported, 0, "{stalled:?}");

    run.gate.open();
    tracer.flush(Duration::from_secs(30)).expect("flush");
    let stats = tracer.stats();
    let total = 1 + 2 * TREES; // the trigger span and the trees
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert_eq!(
        stats.exported + stats.dropped,
        total,
        "every span is exported or counted as dropped: {stats:?}"
    );
    assert_eq!(run.received.load(Ordering::Relaxed), stats.exported);
    // What the ring held got through.
    assert!(stats.exported > 1, "{stats:?}");
}

#[test]
fn a_span_whose_end_record_was_discarded_is_still_counted() {
    let _serial = serial();
    let run = Run::stalled_collector();
    let tracer = &run.tracer;
    // With the collector stuck, this thread's ring (1024 batches) fills up. The sizes below
    // are chosen so that, with the buffer sizes of this writing, a long-lived root's start
    // record leaves in the last free ring slot while its end record comes when the thread
    // can only discard. Whatever the sizes, every span must end up exported or counted as
    // dropped, and not stay open in the collector for ever.
    const FILLER: u64 = 1023;
    const CHILDREN: u64 = 40_000;
    const AFTER: u64 = 40_000;
    for _ in 0..FILLER {
        drop(tracer.span("filler"));
    }
    {
        let _root = tracer.span("long-root");
        for _ in 0..CHILDREN {
            drop(tracer.span("child"));
        }
    }
    for _ in 0..AFTER {
        drop(tracer.span("after"));
    }
    run.gate.open();
    // Twice: the first flush may find the ring still full.
    tracer.flush(Duration::from_secs(30)).expect("flush");
    tracer.flush(Duration::from_secs(30)).expect("flush");
    let stats = tracer.stats();
    let total = 1 + FILLER + 1 + CHILDREN + AFTER;
    assert_eq!(stats.failed, 0, "{stats:?}");
    assert_eq!(stats.queued, 0, "{stats:?}");
    assert!(
        stats.dropped > 0,
        "the thread's buffers overflowed: {stats:?}"
    );
    assert_eq!(
        stats.exported + stats.dropped,
        total,
        "every span is exported or counted as dropped: {stats:?}"
    );
    assert_eq!(run.received.load(Ordering::Relaxed), stats.exported);
}

#[test]
fn flush_inside_a_span_delivers_its_ended_children_after_a_collector_stall() {
    let _serial = serial();
    let run = Run::stalled_collector();
    let tracer = &run.tracer;
    // Fill this thread's ring (1024 batches; what does not fit is dropped and counted).
    for _ in 0..2000 {
        drop(tracer.span("filler"));
    }
    let root = tracer.span("root");
    for _ in 0..10 {
        drop(tracer.span("child"));
    }
    run.gate.open();
    // Right away, while the ring is still full. The children have ended on this very thread,
    // so the flush must deliver them, as it does when the ring has room.
    tracer.flush(Duration::from_secs(30)).expect("flush");
    let children = run.children.load(Ordering::Relaxed);
    let stats = tracer.stats();
    drop(root);
    assert_eq!(
        children, 10,
        "children ended before the flush on the flushing thread were not exported: {stats:?}"
    );
}

#[test]
fn a_stuck_exporter_does_not_starve_other_tracers() {
    let _serial = serial();
    let stuck = Run::blocked_batch_exporter();
    // Fill the stuck tracer's export queue, a batch at a time so that this thread's ring
    // never overflows: each flush collects what the ring holds, then gives up waiting for
    // the stuck exporter.
    let rounds = QUEUE / BATCH + 1;
    for _ in 0..rounds {
        for _ in 0..BATCH {
            drop(stuck.tracer.span("stuck"));
        }
        assert_eq!(
            stuck.tracer.flush(Duration::from_millis(10)),
            Err(FlushError::Timeout)
        );
    }
    assert_eq!(stuck.tracer.stats().queued, QUEUE as u64);

    // Another tracer, with a working exporter, in the same process: its spans, made on
    // another thread and on this one, must still be collected and exported.
    let (tracer, exporter) = Tracer::builder().in_memory();
    let other = tracer.clone();
    std::thread::spawn(move || {
        let _root = other.span("other-thread");
        let _child = other.span("other-thread-child");
    })
    .join()
    .unwrap();
    tracer.flush(Duration::from_secs(10)).expect("flush");
    assert_eq!(
        exporter.len(),
        2,
        "another thread's spans of another tracer were not collected while one exporter is \
         stuck: {:?}",
        tracer.stats()
    );
    {
        let _root = tracer.span("this-thread");
        let _child = tracer.span("this-thread-child");
    }
    tracer.flush(Duration::from_secs(10)).expect("flush");
    assert_eq!(
        exporter.len(),
        4,
        "this thread's spans of another tracer were not exported while one exporter is \
         stuck: {:?}",
        tracer.stats()
    );
    assert_eq!(tracer.stats().dropped, 0);

    stuck.gate.open();
    stuck.tracer.flush(Duration::from_secs(30)).expect("flush");
    let stats = stuck.tracer.stats();
    assert_eq!(
        stats.exported + stats.dropped,
        1 + (rounds * BATCH) as u64,
        "{stats:?}"
    );
}
