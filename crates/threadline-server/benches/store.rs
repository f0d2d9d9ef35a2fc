//! The disk store: ingest throughput, size on disk, query latencies once filled, reopen time.
//!
//! The spans: traces of 8 to 10 spans over 3 of 12 services (4 operations each), 10
//! attributes per span (`http.method`, `http.route`, `http.status_code`, `net.peer.port`,
//! `db.rows`, `sampled`, `request.id` (unique per span), `user.tier`, `region`, `error`
//! on 1 span in 50), in batches of 512 spans, as an OTLP exporter sends them.
//!
//! Phases:
//!
//! 1. ingest: `THREADLINE_BENCH_STORE_THREADS` threads (default 8, as the server's blocking
//!    pool runs the appends of 8 requests in flight) append the batches straight into a fresh
//!    `DiskStore`, each `append` durable on return (group commit). Reported: spans/s over the
//!    wall-clock time (batches are cloned from a template pool, which is part of that time),
//!    the spans/s of each thread's `append` calls (fsync waits included), the process's CPU
//!    time per span during ingest (the store's background flushes and the cloning included),
//!    and the bytes on disk per span.
//! 2. queries on the filled store, each repeated and reported as p50/p99: a trace by id, the
//!    20 newest traces of a service, of a service with a common tag (`http.method=POST`, a
//!    quarter of the spans) and with a rare one (`error=true`, 1 span in 50).
//!    Then the dependency links of the traces that start within the last 1,000 batches' time
//!    (about 512,000 spans), once.
//! 3. reopen: the store is dropped (journal synced) and opened again.
//!
//! Modes (the data directory is a temporary directory under `THREADLINE_BENCH_DIR`, or the
//! system's):
//!
//! - `cargo bench -p threadline-server --bench store`: 10 million spans (about 10 minutes on
//!   2 cores, 5 GB of disk).
//! - `... -- --quick` or `THREADLINE_BENCH_QUICK=1`: 300,000 spans (under 30 s).
//! - `cargo test --benches`: 20,000 spans, a few queries.

#![allow(missing_docs)]

#[path = "../../threadline/benches/support/mode.rs"]
mod mode;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mode::{mode, Mode};
use threadline::{KeyValue, Resource, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId};
use threadline_server::store::{DiskOptions, DiskStore, SpanStore, TagFilter, TraceQuery};

const BATCH: usize = 512;
const SERVICES: usize = 12;
const OPERATIONS: usize = 4;

fn mix(mut x: u64) -> u64 {
    // splitmix64: spread sequential ids over the key space as random trace ids are
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

const SERVICE_NAMES: [&str; SERVICES] = [
    "frontend",
    "checkout",
    "cart",
    "payment",
    "shipping",
    "email",
    "currency",
    "ads",
    "recommendation",
    "catalog",
    "quote",
    "accounting",
];
const ROUTES: [&str; OPERATIONS] = ["/api/items", "/api/cart", "/api/orders", "/api/users/{id}"];
const METHODS: [&str; 4] = ["GET", "POST", "GET", "PUT"];

struct Generator {
    resources: Vec<Arc<Resource>>,
    operations: Vec<Vec<String>>,
    start: u64,
}

impl Generator {
    fn new() -> Self {
        let resources = SERVICE_NAMES
            .iter()
            .map(|name| {
                let mut resource = Resource::new(*name);
                resource.attributes = vec![
                    KeyValue::new("service.version", "1.4.2"),
                    KeyValue::new("host.name", format!("{name}-7d9f")),
                ];
                Arc::new(resource)
            })
            .collect();
        let operations = SERVICE_NAMES
            .iter()
            .map(|name| {
                (0..OPERATIONS)
                    .map(|i| format!("{name} {} {}", METHODS[i], ROUTES[i]))
                    .collect()
            })
            .collect();
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            - 3_600_000_000_000;
        Generator {
            resources,
            operations,
            start,
        }
    }

    /// Batch number `n`: whole traces until 512 spans (the last trace may be cut short).
    fn batch(&self, n: u64) -> Vec<SpanData> {
        let mut spans = Vec::with_capacity(BATCH);
        let mut trace_n = n * 64;
        while spans.len() < BATCH {
            let seed = mix(trace_n);
            let trace_id = TraceId((u128::from(seed) << 64) | u128::from(mix(seed)) | 1);
            let len = 8 + (seed % 3) as usize;
            let first_service = (seed % SERVICES as u64) as usize;
            let trace_start = self.start + n * 1_000_000 + (trace_n % 64) * 10_000;
            for i in 0..len.min(BATCH - spans.len()) {
                let span_seed = mix(seed ^ (i as u64 + 1));
                let service = (first_service + i / 3) % SERVICES;
                let op = (span_seed % OPERATIONS as u64) as usize;
                let mut span = SpanData::new(
                    trace_id,
                    SpanId(span_seed | 1),
                    self.operations[service][op].clone(),
                );
                if i > 0 {
                    span.parent_span_id = Some(SpanId(mix(seed ^ (i as u64 / 2 + 1)) | 1));
                }
                span.kind = if i % 3 == 0 {
                    SpanKind::Server
                } else {
                    SpanKind::Client
                };
                span.resource = self.resources[service].clone();
                span.scope = Cow::Borrowed("io.opentelemetry.http");
                span.start_time_unix_nano = trace_start + i as u64 * 100_000;
                span.end_time_unix_nano =
                    span.start_time_unix_nano + 50_000 + span_seed % 20_000_000;
                let error = span_seed.is_multiple_of(50);
                span.attributes = vec![
                    KeyValue::new("http.method", METHODS[op]),
                    KeyValue::new("http.route", ROUTES[op]),
                    KeyValue::new("http.status_code", if error { 500i64 } else { 200 }),
                    KeyValue::new("net.peer.port", 40_000 + (span_seed % 20_000) as i64),
                    KeyValue::new("db.rows", (span_seed % 100) as i64),
                    KeyValue::new("sampled", true),
                    KeyValue::new("request.id", format!("{span_seed:016x}")),
                    KeyValue::new(
                        "user.tier",
                        ["free", "pro", "team"][(span_seed % 3) as usize],
                    ),
                    KeyValue::new(
                        "region",
                        ["eu-west-1", "us-east-1"][(span_seed % 2) as usize],
                    ),
                    KeyValue::new("error", error),
                ];
                if error {
                    span.status = Some(Status::new(StatusCode::Internal, "upstream failed"));
                }
                spans.push(span);
            }
            trace_n += 1;
        }
        spans
    }
}

/// CPU time (user and system) of this process's threads so far, summed per thread name
/// (Linux; empty elsewhere). Threads that have ended are not listed.
fn cpu_by_thread_name() -> Vec<(String, Duration)> {
    let mut by_name: std::collections::BTreeMap<String, u64> = Default::default();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let Some((head, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let name = head.split_once('(').map_or("", |(_, n)| n).to_string();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
            .sum();
        *by_name.entry(name).or_default() += ticks;
    }
    by_name
        .into_iter()
        .map(|(name, ticks)| (name, Duration::from_millis(ticks * 10)))
        .collect()
}

/// User and system CPU time of this process so far (Linux; zero elsewhere).
fn process_cpu() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // fields after the command name (which is in parentheses): utime and stime are 14 and 15
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // USER_HZ is 100 on Linux
    Duration::from_millis(ticks * 10)
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mode = mode();
    let (total_spans, repeats) = match mode {
        Mode::CriterionOnly => return,
        Mode::Test => (20_000u64, 5),
        Mode::Quick => (300_000, 100),
        Mode::Full => (10_000_000, 200),
    };
    let threads: u64 = std::env::var("THREADLINE_BENCH_STORE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
        .max(1);
    let parent = std::env::var_os("THREADLINE_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(parent).expect("temporary directory");
    let options = DiskOptions {
        background_retention: false,
        ..DiskOptions::default()
    };
    let store = Arc::new(DiskStore::open(dir.path(), options.clone()).expect("open"));
    let generator = Arc::new(Generator::new());
    let batches = total_spans.div_ceil(BATCH as u64);

    // what cloning and dropping a batch costs the appending threads, apart from the store
    let template = generator.batch(0);
    let t = Instant::now();
    for _ in 0..200 {
        drop(std::hint::black_box(template.clone()));
    }
    let clone_per_span = t.elapsed().as_secs_f64() * 1e6 / (200 * BATCH) as f64;

    // 1. ingest
    let next = Arc::new(AtomicU64::new(0));
    let cpu_before = process_cpu();
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (store, generator, next) = (store.clone(), generator.clone(), next.clone());
            std::thread::Builder::new()
                .name("bench-append".into())
                .spawn(move || {
                    // templates generated once; each append gets a clone with fresh ids
                    let templates: Vec<Vec<SpanData>> =
                        (0..16).map(|n| generator.batch(n)).collect();
                    let mut in_append = Duration::ZERO;
                    let mut spans = 0u64;
                    loop {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        if n >= batches {
                            return (in_append, spans);
                        }
                        let mut batch = templates[(n % 16) as usize].clone();
                        let round = u128::from(n / 16) << 96;
                        for span in &mut batch {
                            span.trace_id = TraceId(span.trace_id.0 ^ round);
                            let shift = (n / 16) * 1_000_000 * 16;
                            span.start_time_unix_nano += shift;
                            span.end_time_unix_nano += shift;
                        }
                        spans += batch.len() as u64;
                        let t = Instant::now();
                        store.append(batch).expect("append");
                        in_append += t.elapsed();
                    }
                })
                .expect("ingest thread")
        })
        .collect();
    let mut per_thread = Vec::new();
    let mut stored = 0;
    // before the appending threads end, so that theirs is counted too
    let mut cpu_threads = Vec::new();
    while next.load(Ordering::Relaxed) < batches {
        cpu_threads = cpu_by_thread_name();
        std::thread::sleep(Duration::from_millis(100));
    }
    for worker in workers {
        let (in_append, spans) = worker.join().expect("ingest thread");
        per_thread.push(spans as f64 / in_append.as_secs_f64());
        stored += spans;
    }
    let ingest = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    let bytes = store.counters().bytes_on_disk;
    println!("store bench: {stored} spans, batches of {BATCH}, {threads} appending threads");
    println!(
        "ingest: {:.0} spans/s wall clock ({:.1} s); append calls alone: {} spans/s per thread",
        stored as f64 / ingest.as_secs_f64(),
        ingest.as_secs_f64(),
        per_thread
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "cpu during ingest (all threads, the store's background work included): {:.2} s, {:.2} us per span",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / stored as f64
    );
    println!("(of which cloning and dropping the batches: {clone_per_span:.2} us per span)");
    println!(
        "cpu by thread (near the end of ingest): {}",
        cpu_threads
            .iter()
            .map(|(name, cpu)| format!("{name} {:.2} s", cpu.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "disk: {} bytes, {:.0} bytes per span (right after ingest, before compactions settle)",
        bytes,
        bytes as f64 / stored as f64
    );

    // 2. queries
    let sample = |i: u64| {
        let n = mix(i) % batches;
        let template = generator.batch(n % 16);
        let round = u128::from(n / 16) << 96;
        TraceId(template[(mix(i + 7) % BATCH as u64) as usize].trace_id.0 ^ round)
    };
    let mut by_id = Vec::new();
    for i in 0..repeats as u64 {
        let trace_id = sample(i);
        let t = Instant::now();
        let trace = store.trace(trace_id).expect("trace");
        by_id.push(t.elapsed());
        assert!(trace.is_some_and(|spans| !spans.is_empty()));
    }
    let search = |tags: &str| {
        let mut times = Vec::new();
        let mut found = 0;
        for i in 0..repeats {
            let query = TraceQuery {
                service: Some(SERVICE_NAMES[i % SERVICES].to_string()),
                tags: TagFilter::parse_zipkin(tags),
                limit: 20,
                ..TraceQuery::default()
            };
            let t = Instant::now();
            let traces = store.find_traces(&query).expect("find");
            times.push(t.elapsed());
            found += traces.len();
        }
        (percentiles(times), found as f64 / repeats as f64)
    };
    let lines = [
        ("trace by id", (percentiles(by_id), 1.0)),
        ("service, limit 20", search("")),
        (
            "service + http.method=POST, limit 20",
            search("http.method=POST"),
        ),
        ("service + error=true, limit 20", search("error=true")),
    ];
    for (name, ((p50, p99), found)) in lines {
        println!(
            "query {name}: p50 {}, p99 {} ({found:.1} traces per query, {repeats} queries)",
            ms(p50),
            ms(p99)
        );
    }

    // dependencies over the start times of the last 1,000 batches (about 512,000 spans)
    let last = generator.start + batches * 1_000_000;
    let first = last.saturating_sub(1_000 * 1_000_000);
    let t = Instant::now();
    let links = store.dependencies(first, last).expect("dependencies");
    println!(
        "dependencies over the last 1,000 batches' start times: {} ({} links)",
        ms(t.elapsed()),
        links.len()
    );

    // 3. reopen
    let t = Instant::now();
    drop(store);
    let closed = t.elapsed();
    let t = Instant::now();
    let store = DiskStore::open(dir.path(), options).expect("reopen");
    let reopened = t.elapsed();
    println!(
        "close: {}, reopen: {} ({} services), {:.0} bytes per span on disk after reopening",
        ms(closed),
        ms(reopened),
        store.services().expect("services").len(),
        store.counters().bytes_on_disk as f64 / stored as f64
    );
    // the block cache starts empty (the page cache may still hold the files)
    let mut by_id = Vec::new();
    for i in 0..repeats as u64 {
        let trace_id = sample(i + 1_000_000);
        let t = Instant::now();
        let trace = store.trace(trace_id).expect("trace");
        by_id.push(t.elapsed());
        assert!(trace.is_some_and(|spans| !spans.is_empty()));
    }
    let (p50, p99) = percentiles(by_id);
    println!(
        "query trace by id after reopening: p50 {}, p99 {}",
        ms(p50),
        ms(p99)
    );
}
