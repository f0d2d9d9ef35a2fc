//! Threadline against fastrace and the OpenTelemetry SDK, in one process.
//!
//! Cases:
//!
//! - `tree N` (N = 1, 10, 100, 1000): a sampled root span with N children, each child with two
//!   attributes (a string and an integer), handed to a no-op exporter through each library's
//!   batch path. Two costs are measured:
//!   - (a) *instrumented thread*: building one tree while the libraries' background threads
//!     collect and export in parallel (as fastrace's own benchmarks do);
//!   - (b) *end to end*: building trees in chunks of about 1000 spans and flushing each
//!     library synchronously after every chunk, timing everything, flushes included.
//!   - (c) *instrumented thread below saturation*: the chunks of (b), timing only the tree
//!     building: what instrumented code pays when the export pipeline keeps up.
//! - `unsampled span`: one span that is not recorded.
//!
//! Criterion measures every case first; then a fixed timing loop (`std::time::Instant`,
//! warm-up, best of 5 repetitions) measures them again for a side-by-side summary table in ns
//! per span, followed by how many spans each exporter actually received.
//!
//! Modes:
//!
//! - `cargo bench --bench compare`: full run (about 1.5 minutes on 2 cores, after the build).
//! - `cargo bench --bench compare -- --quick`, or `THREADLINE_BENCH_QUICK=1 cargo bench --bench
//!   compare`: short criterion runs and a short summary loop (about 30 s). With the
//!   variable, criterion's own sampling is shortened too; with `--quick`, criterion's quick
//!   mode is used.
//! - `cargo test --benches` (criterion's test mode): every case runs a few iterations.
//!
//! A criterion filter argument selects criterion benchmarks only; the summary always covers
//! every case.

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use fastrace::collector::{Config as FastraceConfig, Reporter, SpanRecord};
use fastrace::prelude::{LocalSpan, Span as FastraceSpan, SpanContext as FastraceContext};
use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, Sampler, SdkTracer, SdkTracerProvider, SpanData, SpanExporter,
};

const SIZES: [u64; 4] = [1, 10, 100, 1000];
const FLUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// Spans per flush in the end-to-end case.
const CHUNK_SPANS: u64 = 1000;

// ---------------------------------------------------------------------------------------------
// No-op exporters that count what they receive, so that drops are visible.

static FASTRACE_REPORTED: AtomicU64 = AtomicU64::new(0);
static OTEL_EXPORTED: AtomicU64 = AtomicU64::new(0);

/// fastrace reporter that discards (after counting) every span.
struct NoopReporter;

impl Reporter for NoopReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        FASTRACE_REPORTED.fetch_add(spans.len() as u64, Ordering::Relaxed);
        drop(black_box(spans));
    }
}

/// OpenTelemetry exporter that discards (after counting) every span.
#[derive(Debug)]
struct NoopSpanExporter;

impl SpanExporter for NoopSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        OTEL_EXPORTED.fetch_add(batch.len() as u64, Ordering::Relaxed);
        drop(black_box(batch));
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The libraries under test.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lib {
    Threadline,
    Fastrace,
    Otel,
}

impl Lib {
    const ALL: [Lib; 3] = [Lib::Threadline, Lib::Fastrace, Lib::Otel];

    fn name(self) -> &'static str {
        match self {
            Lib::Threadline => "threadline",
            Lib::Fastrace => "fastrace",
            Lib::Otel => "opentelemetry_sdk",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Unsampled {
    /// threadline, under an unsampled parent.
    ThreadlineParent,
    /// threadline's global `span` with no global tracer set.
    ThreadlineGlobal,
    /// fastrace, `LocalSpan` without a local parent.
    Fastrace,
    /// OpenTelemetry SDK with the `AlwaysOff` sampler.
    Otel,
}

impl Unsampled {
    const ALL: [Unsampled; 4] = [
        Unsampled::ThreadlineParent,
        Unsampled::ThreadlineGlobal,
        Unsampled::Fastrace,
        Unsampled::Otel,
    ];

    fn name(self) -> &'static str {
        match self {
            Unsampled::ThreadlineParent => "threadline (unsampled parent)",
            Unsampled::ThreadlineGlobal => "threadline (no tracer, global span)",
            Unsampled::Fastrace => "fastrace (no local parent)",
            Unsampled::Otel => "opentelemetry_sdk (AlwaysOff)",
        }
    }

    fn id(self) -> &'static str {
        match self {
            Unsampled::ThreadlineParent => "threadline_unsampled_parent",
            Unsampled::ThreadlineGlobal => "threadline_no_tracer",
            Unsampled::Fastrace => "fastrace",
            Unsampled::Otel => "opentelemetry_sdk",
        }
    }
}

struct Libs {
    threadline: threadline::Tracer,
    threadline_off: threadline::Tracer,
    otel_provider: SdkTracerProvider,
    otel: SdkTracer,
    otel_off_provider: SdkTracerProvider,
    otel_off: SdkTracer,
    /// Spans each library was asked to record, by [`Lib::index`].
    created: [u64; 3],
    /// Marker spans [`Libs::settle`] sent through fastrace, left out of its counts.
    fastrace_markers: u64,
}

impl Libs {
    fn new() -> Libs {
        let threadline = threadline::Tracer::builder()
            .batch_exporter(threadline::NoopExporter)
            .build();
        let threadline_off = threadline::Tracer::builder()
            .sampler(threadline::AlwaysOffSampler)
            .batch_exporter(threadline::NoopExporter)
            .build();

        fastrace::set_reporter(NoopReporter, FastraceConfig::default());

        let otel_provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOn)
            .with_span_processor(BatchSpanProcessor::builder(NoopSpanExporter).build())
            .build();
        let otel = otel_provider.tracer("compare");
        let otel_off_provider = SdkTracerProvider::builder()
            .with_sampler(Sampler::AlwaysOff)
            .with_span_processor(BatchSpanProcessor::builder(NoopSpanExporter).build())
            .build();
        let otel_off = otel_off_provider.tracer("compare");

        Libs {
            threadline,
            threadline_off,
            otel_provider,
            otel,
            otel_off_provider,
            otel_off,
            created: [0; 3],
            fastrace_markers: 0,
        }
    }

    /// Builds one tree of `1 + n` spans.
    #[inline]
    fn tree(&self, lib: Lib, n: u64) {
        match lib {
            Lib::Threadline => threadline_tree(&self.threadline, n),
            Lib::Fastrace => fastrace_tree(n),
            Lib::Otel => otel_tree(&self.otel, n),
        }
    }

    /// Each library's synchronous flush.
    fn flush(&self, lib: Lib) {
        match lib {
            Lib::Threadline => {
                if let Err(error) = self.threadline.flush(FLUSH_TIMEOUT) {
                    eprintln!("threadline flush failed: {error}");
                }
            }
            Lib::Fastrace => fastrace::flush(),
            Lib::Otel => {
                if let Err(error) = self.otel_provider.force_flush() {
                    eprintln!("opentelemetry_sdk force_flush failed: {error}");
                }
            }
        }
    }

    /// Flushes everything, so that no background work leaks into the next measurement and
    /// the exporters' counters are current.
    fn settle(&mut self) {
        for lib in Lib::ALL {
            self.flush(lib);
        }
        // A fastrace thread keeps the commands that did not fit its ring until it next sends
        // one, and then moves at most a ring's worth: send marker spans (left out of the
        // counts) and flush until everything created has been reported, or a deadline.
        let deadline = Instant::now() + FLUSH_TIMEOUT;
        while self.delivered()[Lib::Fastrace.index()] < self.created[Lib::Fastrace.index()]
            && Instant::now() < deadline
        {
            drop(FastraceSpan::root("settle", FastraceContext::random()));
            self.fastrace_markers += 1;
            fastrace::flush();
        }
        if let Err(error) = self.threadline_off.flush(FLUSH_TIMEOUT) {
            eprintln!("threadline flush failed: {error}");
        }
        let _ = self.otel_off_provider.force_flush();
    }

    /// Spans each library's exporter received so far.
    fn delivered(&self) -> [u64; 3] {
        [
            self.threadline.stats().exported,
            FASTRACE_REPORTED
                .load(Ordering::Relaxed)
                .saturating_sub(self.fastrace_markers),
            OTEL_EXPORTED.load(Ordering::Relaxed),
        ]
    }

    /// Builds `chunks` chunks of [`chunk_trees`] trees (about [`CHUNK_SPANS`] spans),
    /// flushing after each; returns the time taken, flushes included.
    fn end_to_end(&mut self, lib: Lib, n: u64, chunks: u64) -> Duration {
        let trees = chunk_trees(n);
        let start = Instant::now();
        for _ in 0..chunks {
            for _ in 0..trees {
                self.tree(lib, black_box(n));
            }
            self.flush(lib);
        }
        let elapsed = start.elapsed();
        self.created[lib.index()] += chunks * trees * (n + 1);
        elapsed
    }

    /// Builds `chunks` chunks of [`chunk_trees`] trees, flushing after each outside the
    /// timing; returns the time spent building trees only. This is the instrumented thread's
    /// cost when the pipeline keeps up, as it does below saturation.
    fn paced(&mut self, lib: Lib, n: u64, chunks: u64) -> Duration {
        let trees = chunk_trees(n);
        let mut elapsed = Duration::ZERO;
        for _ in 0..chunks {
            let start = Instant::now();
            for _ in 0..trees {
                self.tree(lib, black_box(n));
            }
            elapsed += start.elapsed();
            self.flush(lib);
        }
        self.created[lib.index()] += chunks * trees * (n + 1);
        elapsed
    }

    /// Builds `iters` trees without flushing; returns the time taken.
    fn instrumented(&mut self, lib: Lib, n: u64, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.tree(lib, black_box(n));
        }
        let elapsed = start.elapsed();
        self.created[lib.index()] += iters * (n + 1);
        elapsed
    }

    /// Starts and ends `iters` unsampled spans; returns the time taken.
    fn unsampled(&self, case: Unsampled, iters: u64) -> Duration {
        match case {
            Unsampled::ThreadlineParent => {
                let _root = self.threadline_off.span("root");
                let start = Instant::now();
                for _ in 0..iters {
                    let guard = self.threadline_off.span(black_box("child"));
                    black_box(&guard);
                    drop(guard);
                }
                start.elapsed()
            }
            Unsampled::ThreadlineGlobal => {
                let start = Instant::now();
                for _ in 0..iters {
                    let guard = threadline::span(black_box("x"));
                    black_box(&guard);
                    drop(guard);
                }
                start.elapsed()
            }
            Unsampled::Fastrace => {
                let start = Instant::now();
                for _ in 0..iters {
                    let guard = LocalSpan::enter_with_local_parent(black_box("child"));
                    black_box(&guard);
                    drop(guard);
                }
                start.elapsed()
            }
            Unsampled::Otel => {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut span = self.otel_off.start(black_box("child"));
                    span.end();
                    black_box(&span);
                    drop(span);
                }
                start.elapsed()
            }
        }
    }
}

/// Trees per flush in the end-to-end case.
fn chunk_trees(n: u64) -> u64 {
    (CHUNK_SPANS / (n + 1)).max(1)
}

#[inline]
fn threadline_tree(tracer: &threadline::Tracer, n: u64) {
    let _root = tracer.span("root");
    for i in 0..n {
        let s = tracer.span("child");
        s.add_attribute("key", "value");
        s.add_attribute("i", i as i64);
    }
}

#[inline]
fn fastrace_tree(n: u64) {
    let root = FastraceSpan::root("root", FastraceContext::random());
    let _guard = root.set_local_parent();
    for i in 0..n {
        // fastrace properties are strings: the integer is formatted.
        let _s = LocalSpan::enter_with_local_parent("child").with_properties(|| {
            [
                ("key", Cow::Borrowed("value")),
                ("i", Cow::Owned(i.to_string())),
            ]
        });
    }
}

#[inline]
fn otel_tree(tracer: &SdkTracer, n: u64) {
    tracer.in_span("root", |_cx| {
        for i in 0..n {
            tracer.in_span("child", |cx| {
                let span = cx.span();
                span.set_attribute(KeyValue::new("key", "value"));
                span.set_attribute(KeyValue::new("i", i as i64));
            });
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Run modes.

#[path = "support/mode.rs"]
mod run_mode;
use run_mode::{mode, Mode};

/// Timing-loop settings for the summary.
struct Timing {
    warm_up: Duration,
    repetition: Duration,
    repetitions: usize,
}

impl Timing {
    fn for_mode(mode: Mode) -> Timing {
        match mode {
            Mode::Full => Timing {
                warm_up: Duration::from_millis(150),
                repetition: Duration::from_millis(200),
                repetitions: 5,
            },
            Mode::Quick => Timing {
                warm_up: Duration::from_millis(30),
                repetition: Duration::from_millis(50),
                repetitions: 5,
            },
            Mode::Test | Mode::CriterionOnly => Timing {
                warm_up: Duration::ZERO,
                repetition: Duration::ZERO,
                repetitions: 1,
            },
        }
    }

    /// Best time per iteration, in ns, of `run(libs, iters)`. Everything is flushed between
    /// repetitions, outside the timed runs, so that no backlog builds up across them.
    fn best_ns_per_iter(
        &self,
        libs: &mut Libs,
        mut run: impl FnMut(&mut Libs, u64) -> Duration,
    ) -> f64 {
        // Warm up, doubling the iteration count until the warm-up time is spent and the runs
        // are long enough to time; the fastest run per iteration sizes the repetitions, so
        // that one slow run (a preemption, a backlog being drained) cannot make them tiny.
        let started = Instant::now();
        let mut iters = 1u64;
        let mut per_iter = f64::INFINITY;
        loop {
            let t = run(libs, iters);
            per_iter = per_iter.min(t.as_secs_f64() / iters as f64);
            let spent = started.elapsed();
            if (spent >= self.warm_up && t >= self.warm_up / 8) || spent >= self.warm_up * 10 {
                break;
            }
            iters = iters.saturating_mul(2);
        }
        let iters = ((self.repetition.as_secs_f64() / per_iter.max(1e-12)) as u64).max(1);
        let mut best = f64::INFINITY;
        for _ in 0..self.repetitions {
            libs.settle();
            best = best.min(run(libs, iters).as_secs_f64() * 1e9 / iters as f64);
        }
        best
    }
}

fn criterion(mode: Mode) -> Criterion {
    let c = Criterion::default().nresamples(10_000);
    let c = match mode {
        Mode::Quick => c
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(300))
            .sample_size(10),
        _ => c
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
            .sample_size(20),
    };
    c.configure_from_args()
}

// ---------------------------------------------------------------------------------------------
// Criterion benchmarks.

fn criterion_benches(c: &mut Criterion, libs: &mut Libs) {
    {
        let mut group = c.benchmark_group("tree_instrumented_thread");
        for n in SIZES {
            group.throughput(Throughput::Elements(n + 1));
            for lib in Lib::ALL {
                let mut created = 0;
                group.bench_with_input(BenchmarkId::new(lib.name(), n), &n, |b, &n| {
                    b.iter(|| {
                        libs.tree(lib, black_box(n));
                        created += n + 1;
                    })
                });
                libs.created[lib.index()] += created;
                libs.settle();
            }
        }
        group.finish();
    }
    {
        // One iteration is one chunk of trees (about 1000 spans) and a flush.
        let mut group = c.benchmark_group("tree_end_to_end_chunk");
        for n in SIZES {
            group.throughput(Throughput::Elements(chunk_trees(n) * (n + 1)));
            for lib in Lib::ALL {
                group.bench_with_input(BenchmarkId::new(lib.name(), n), &n, |b, &n| {
                    b.iter_custom(|iters| libs.end_to_end(lib, n, iters))
                });
                libs.settle();
            }
        }
        group.finish();
    }
    {
        let mut group = c.benchmark_group("unsampled_span");
        group.throughput(Throughput::Elements(1));
        for case in Unsampled::ALL {
            group.bench_function(case.id(), |b| {
                b.iter_custom(|iters| libs.unsampled(case, iters))
            });
        }
        group.finish();
    }
}

// ---------------------------------------------------------------------------------------------
// The summary.

/// ns per span, by [`Lib::index`].
type Row = [f64; 3];

/// Spans created and delivered during one summary case, by [`Lib::index`].
#[derive(Default, Clone, Copy)]
struct Delivery {
    created: [u64; 3],
    delivered: [u64; 3],
    threadline_dropped: u64,
}

/// Measures `run(libs, lib, iters)` for every library; one iteration records `spans_per_iter`
/// spans.
fn measure_case(
    libs: &mut Libs,
    timing: &Timing,
    spans_per_iter: u64,
    mut run: impl FnMut(&mut Libs, Lib, u64) -> Duration,
) -> (Row, Delivery) {
    let mut row = [0.0; 3];
    let mut delivery = Delivery::default();
    for lib in Lib::ALL {
        libs.settle();
        let created_before = libs.created;
        let delivered_before = libs.delivered();
        let dropped_before = libs.threadline.stats().dropped;
        let ns_per_iter = timing.best_ns_per_iter(libs, |libs, iters| run(libs, lib, iters));
        row[lib.index()] = ns_per_iter / spans_per_iter as f64;
        libs.settle();
        let i = lib.index();
        delivery.created[i] = libs.created[i] - created_before[i];
        delivery.delivered[i] = libs.delivered()[i] - delivered_before[i];
        if lib == Lib::Threadline {
            delivery.threadline_dropped = libs.threadline.stats().dropped - dropped_before;
        }
    }
    (row, delivery)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 && a.is_finite() && b.is_finite() {
        format!("{:.2}x", a / b)
    } else {
        "-".into()
    }
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".into()
    } else {
        format!("{:.1}%", part as f64 * 100.0 / whole as f64)
    }
}

fn print_tree_table(title: &str, rows: &[(u64, Row)]) {
    println!("\n{title} (ns per span, best of the repetitions; lower is better)");
    println!(
        "{:>6} {:>12} {:>12} {:>18} {:>20} {:>29}",
        "N",
        "threadline",
        "fastrace",
        "opentelemetry_sdk",
        "threadline/fastrace",
        "opentelemetry_sdk/threadline"
    );
    for (n, row) in rows {
        let [t, f, o] = *row;
        println!(
            "{:>6} {:>12.1} {:>12.1} {:>18.1} {:>20} {:>29}",
            n,
            t,
            f,
            o,
            ratio(t, f),
            ratio(o, t)
        );
    }
}

fn print_delivery_table(rows: &[(String, Delivery)]) {
    println!("\nspans created during the summary runs, and the share each no-op exporter received");
    println!(
        "(threadline: `dropped` is its own count; `unaccounted` = created - exported - dropped; \
         the others count no drops)"
    );
    println!(
        "{:<14} | {:>10} {:>9} {:>10} {:>11} | {:>10} {:>9} | {:>10} {:>9}",
        "", "threadline", "", "", "", "fastrace", "", "otel_sdk", ""
    );
    println!(
        "{:<14} | {:>10} {:>9} {:>10} {:>11} | {:>10} {:>9} | {:>10} {:>9}",
        "case",
        "created",
        "exported",
        "dropped",
        "unaccounted",
        "created",
        "reported",
        "created",
        "exported"
    );
    for (case, d) in rows {
        let unaccounted = d.created[0] as i64 - d.delivered[0] as i64 - d.threadline_dropped as i64;
        println!(
            "{:<14} | {:>10} {:>9} {:>10} {:>11} | {:>10} {:>9} | {:>10} {:>9}",
            case,
            d.created[0],
            percent(d.delivered[0], d.created[0]),
            d.threadline_dropped,
            unaccounted,
            d.created[1],
            percent(d.delivered[1], d.created[1]),
            d.created[2],
            percent(d.delivered[2], d.created[2]),
        );
    }
}

fn summary(libs: &mut Libs, timing: &Timing, mode: Mode) {
    println!("\n=== threadline vs fastrace vs opentelemetry_sdk ({mode:?} mode) ===");
    println!(
        "tree N: root + N children with 2 attributes each, sampled, batch path, no-op exporter"
    );
    println!(
        "(a) instrumented thread: building trees, collectors running in parallel; (b) end to end: \
         chunks of ~{CHUNK_SPANS} spans, synchronous flush after each, flushes timed; (c) \
         instrumented thread below saturation: the same chunks, flushes not timed"
    );

    let mut instrumented = Vec::new();
    let mut end_to_end = Vec::new();
    let mut delivery = Vec::new();
    for n in SIZES {
        let (row, d) = measure_case(libs, timing, n + 1, |libs, lib, iters| {
            libs.instrumented(lib, n, iters)
        });
        instrumented.push((n, row));
        delivery.push((format!("(a) tree {n}"), d));
    }
    for n in SIZES {
        let spans = chunk_trees(n) * (n + 1);
        let (row, d) = measure_case(libs, timing, spans, |libs, lib, chunks| {
            libs.end_to_end(lib, n, chunks)
        });
        end_to_end.push((n, row));
        delivery.push((format!("(b) tree {n}"), d));
    }
    let mut paced = Vec::new();
    for n in SIZES {
        let spans = chunk_trees(n) * (n + 1);
        let (row, d) = measure_case(libs, timing, spans, |libs, lib, chunks| {
            libs.paced(lib, n, chunks)
        });
        paced.push((n, row));
        delivery.push((format!("(c) tree {n}"), d));
    }
    print_tree_table("(a) instrumented thread", &instrumented);
    print_tree_table("(b) end to end", &end_to_end);
    print_tree_table("(c) instrumented thread below saturation", &paced);
    print_delivery_table(&delivery);

    println!("\nunsampled span (ns per span, start + end)");
    let mut unsampled = Vec::new();
    for case in Unsampled::ALL {
        libs.settle();
        let ns = timing.best_ns_per_iter(libs, |libs, iters| libs.unsampled(case, iters));
        unsampled.push((case, ns));
    }
    let fastrace_ns = unsampled
        .iter()
        .find(|(c, _)| *c == Unsampled::Fastrace)
        .map_or(f64::NAN, |(_, ns)| *ns);
    let otel_ns = unsampled
        .iter()
        .find(|(c, _)| *c == Unsampled::Otel)
        .map_or(f64::NAN, |(_, ns)| *ns);
    println!(
        "{:<38} {:>8} {:>12} {:>20}",
        "", "ns", "vs fastrace", "opentelemetry_sdk/x"
    );
    for (case, ns) in &unsampled {
        println!(
            "{:<38} {:>8.2} {:>12} {:>20}",
            case.name(),
            ns,
            ratio(*ns, fastrace_ns),
            ratio(otel_ns, *ns)
        );
    }
}

fn main() {
    let mode = mode();
    let mut libs = Libs::new();
    let mut c = criterion(mode);
    criterion_benches(&mut c, &mut libs);
    c.final_summary();

    if mode != Mode::CriterionOnly {
        let timing = Timing::for_mode(mode);
        summary(&mut libs, &timing, mode);
    }

    libs.settle();
    let stats = libs.threadline.stats();
    let delivered = libs.delivered();
    println!("\nwhole run, spans delivered / created:");
    for lib in Lib::ALL {
        let i = lib.index();
        println!(
            "  {:<18} {} / {} ({})",
            lib.name(),
            delivered[i],
            libs.created[i],
            percent(delivered[i], libs.created[i])
        );
    }
    println!(
        "threadline stats: exported {}, failed {}, dropped {}, queued {}; unaccounted {}",
        stats.exported,
        stats.failed,
        stats.dropped,
        stats.queued,
        libs.created[Lib::Threadline.index()] as i64
            - (stats.exported + stats.failed + stats.dropped + stats.queued) as i64
    );
    if let Some(peak) = peak_rss() {
        println!("peak resident memory of the process: {peak}");
    }
}

/// The process's peak resident set size, where `/proc` tells it (fastrace's queues are
/// unbounded, so a collector that falls behind shows up here).
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.trim_start_matches("VmHWM:").trim().to_string())
}
