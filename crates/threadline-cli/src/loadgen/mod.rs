//! `threadline loadgen`: sends pre-encoded OTLP/HTTP protobuf batches on N keep-alive
//! connections and reports accepted spans per second and acknowledgement latency.
//!
//! Each connection is one thread with a blocking socket and its own copies of a few
//! pre-encoded requests ([`batch::Template`]); per send it only patches ids (and timestamps),
//! so the generator stays cheap next to the server it measures. Every send takes the next
//! number of one shared counter, which makes the ids unique across the run.

mod batch;
mod client;
mod histogram;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Args;

use batch::{IdSeed, Shape, Template, TemplateError};
use client::{Connection, Endpoint, EndpointError, RequestError};
use histogram::Histogram;

/// Distinct batches (attribute values, services) each connection cycles through.
const VARIANTS: u64 = 8;
/// The longest pause a `Retry-After` header gets; longer ones are cut to this.
const MAX_BACKOFF: Duration = Duration::from_millis(100);
/// The pause after a failed connect, so a server that is down is not spun on.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
/// How long a connect, write or read may take before the request counts as failed.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Error messages kept for the report, per connection.
const ERROR_SAMPLES: usize = 3;

/// The flags of `threadline loadgen`.
#[derive(Args, Debug)]
pub struct LoadgenArgs {
    /// The OTLP/HTTP traces URL to post to.
    #[arg(long, default_value = "http://127.0.0.1:4318/v1/traces")]
    endpoint: String,
    /// Connections, each sending one request at a time on its own thread.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    connections: u16,
    /// How long to measure, after the warm-up (`10s`, `500ms`, `2m`); 10s when neither this nor
    /// --batches is given.
    #[arg(long, value_parser = parse_duration, conflicts_with = "batches")]
    duration: Option<Duration>,
    /// Send exactly this many batches in all, then stop.
    #[arg(long)]
    batches: Option<u64>,
    /// Spans in each request.
    #[arg(long, default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    spans_per_batch: u32,
    /// Attributes on each span (request.id, http.method, http.status_code, http.route, user.id,
    /// ...).
    #[arg(long, default_value_t = 10)]
    attributes: u16,
    /// Spans in each trace.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    spans_per_trace: u32,
    /// Services the spans come from.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    services: u16,
    /// Time before measuring starts (what is sent still counts in the totals); 2s with
    /// --duration, 0s with --batches.
    #[arg(long, value_parser = parse_duration)]
    warmup: Option<Duration>,
    /// Keep the timestamps as encoded instead of moving them to the time of each send.
    #[arg(long)]
    fixed_timestamps: bool,
    /// Print one JSON line with the results instead of text.
    #[arg(long)]
    json: bool,
}

/// Why the load generator could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// The endpoint is unusable.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// The batches could not be built.
    #[error(transparent)]
    Template(#[from] TemplateError),
    /// A worker thread could not start or panicked.
    #[error("load generator thread failed: {0}")]
    Thread(String),
    /// Nothing was acknowledged.
    #[error("no request was acknowledged: {0}")]
    NothingAcknowledged(String),
}

/// Parses `250ms`, `10s`, `2m`, `1h` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 10s or 500ms"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("unknown unit {unit:?} in {text:?} (ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

/// When to stop sending.
#[derive(Clone, Copy, Debug)]
enum Stop {
    /// At this instant.
    At(Instant),
    /// Once this many batches were taken.
    After(u64),
}

/// What one connection counted.
#[derive(Default)]
struct Tally {
    requests_ok: u64,
    requests_throttled: u64,
    requests_failed: u64,
    spans_sent: u64,
    spans_accepted: u64,
    spans_rejected: u64,
    reconnects: u64,
    /// Spans accepted by requests completed within the measured window.
    measured_spans: u64,
    measured_requests: u64,
    /// The last completion (for a run of a fixed number of batches).
    last_completion: Option<Instant>,
    /// Acknowledgement latency of successful requests in the measured window, nanoseconds.
    latency: Histogram,
    errors: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.requests_ok += other.requests_ok;
        self.requests_throttled += other.requests_throttled;
        self.requests_failed += other.requests_failed;
        self.spans_sent += other.spans_sent;
        self.spans_accepted += other.spans_accepted;
        self.spans_rejected += other.spans_rejected;
        self.reconnects += other.reconnects;
        self.measured_spans += other.measured_spans;
        self.measured_requests += other.measured_requests;
        self.last_completion = self.last_completion.max(other.last_completion);
        self.latency.merge(&other.latency);
        for error in other.errors {
            if self.errors.len() < ERROR_SAMPLES && !self.errors.contains(&error) {
                self.errors.push(error);
            }
        }
    }

    fn note_error(&mut self, error: String) {
        self.requests_failed += 1;
        if self.errors.len() < ERROR_SAMPLES && !self.errors.contains(&error) {
            self.errors.push(error);
        }
    }
}

/// What every connection shares.
struct Plan {
    endpoint: Endpoint,
    templates: Vec<Template>,
    seed: IdSeed,
    next_sequence: AtomicU64,
    patch_times: bool,
}

/// When a run stops and which completions it measures, fixed once every connection is ready.
#[derive(Clone, Copy, Debug)]
struct Clock {
    stop: Stop,
    measure_from: Instant,
    /// The end of the measured window of a timed run.
    measure_until: Option<Instant>,
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

/// One connection's loop: take a sequence number, patch, send, count, until told to stop.
fn work(plan: &Plan, worker: usize, clock: mpsc::Receiver<Clock>) -> Tally {
    let mut tally = Tally::default();
    let mut templates = plan.templates.clone();
    let Ok(clock) = clock.recv() else {
        return tally;
    };
    let mut connection: Option<Connection> = None;
    let mut round = worker;
    loop {
        if let Stop::At(end) = clock.stop {
            if Instant::now() >= end {
                break;
            }
        }
        let sequence = plan.next_sequence.fetch_add(1, Ordering::Relaxed);
        if let Stop::After(batches) = clock.stop {
            if sequence >= batches {
                break;
            }
        }
        let conn = match connection.as_mut() {
            Some(conn) => conn,
            None => match Connection::open(plan.endpoint.address, IO_TIMEOUT) {
                Ok(conn) => {
                    tally.reconnects += 1;
                    connection.insert(conn)
                }
                Err(error) => {
                    tally.note_error(format!(
                        "cannot connect to {}: {error}",
                        plan.endpoint.address
                    ));
                    std::thread::sleep(RECONNECT_PAUSE);
                    continue;
                }
            },
        };
        let variants = templates.len();
        let template = &mut templates[round % variants];
        round += 1;
        template.patch(plan.seed, sequence, plan.patch_times.then(unix_nanos));
        let spans = template.spans() as u64;
        tally.spans_sent += spans;
        let started = Instant::now();
        let result = conn.send(template.request());
        let done = Instant::now();
        tally.last_completion = Some(done);
        let measured =
            done >= clock.measure_from && clock.measure_until.is_none_or(|until| done <= until);
        match result {
            Ok(reply) if (200..300).contains(&reply.status) => {
                let rejected = (reply.rejected_spans.max(0) as u64).min(spans);
                tally.requests_ok += 1;
                tally.spans_accepted += spans - rejected;
                tally.spans_rejected += rejected;
                if measured {
                    tally.measured_requests += 1;
                    tally.measured_spans += spans - rejected;
                    tally
                        .latency
                        .record(done.duration_since(started).as_nanos() as u64);
                }
                if reply.close {
                    connection = None;
                }
            }
            Ok(reply) if reply.status == 429 || reply.status == 503 => {
                tally.requests_throttled += 1;
                if reply.close {
                    connection = None;
                }
                if let Some(pause) = reply.retry_after {
                    std::thread::sleep(pause.min(MAX_BACKOFF));
                }
            }
            Ok(reply) => {
                tally.note_error(format!("http status {}", reply.status));
                if reply.close {
                    connection = None;
                }
            }
            Err(error) => {
                let error: RequestError = error;
                tally.note_error(error.to_string());
                connection = None;
            }
        }
    }
    tally
}

/// The figures of one run.
struct Report {
    endpoint: String,
    connections: u16,
    spans_per_batch: u32,
    attributes: u16,
    batch_bytes: usize,
    warmup: Duration,
    measured: Duration,
    tally: Tally,
    cpu: Option<(f64, f64)>,
}

impl Report {
    fn spans_per_second(&self) -> f64 {
        let seconds = self.measured.as_secs_f64();
        if seconds > 0.0 {
            self.tally.measured_spans as f64 / seconds
        } else {
            0.0
        }
    }

    fn requests_per_second(&self) -> f64 {
        let seconds = self.measured.as_secs_f64();
        if seconds > 0.0 {
            self.tally.measured_requests as f64 / seconds
        } else {
            0.0
        }
    }

    fn micros(&self, q: f64) -> f64 {
        self.tally.latency.quantile(q) as f64 / 1000.0
    }

    fn json(&self) -> serde_json::Value {
        let t = &self.tally;
        let rounded = |x: f64, places: i32| (x * 10f64.powi(places)).round() / 10f64.powi(places);
        let (cpu_user, cpu_system) = match self.cpu {
            Some((user, system)) => (
                serde_json::json!(rounded(user, 2)),
                serde_json::json!(rounded(system, 2)),
            ),
            None => (serde_json::Value::Null, serde_json::Value::Null),
        };
        serde_json::json!({
            "endpoint": self.endpoint,
            "connections": self.connections,
            "spans_per_batch": self.spans_per_batch,
            "attributes": self.attributes,
            "batch_bytes": self.batch_bytes,
            "warmup_s": rounded(self.warmup.as_secs_f64(), 3),
            "measured_s": rounded(self.measured.as_secs_f64(), 3),
            "requests_ok": t.requests_ok,
            "requests_throttled": t.requests_throttled,
            "requests_failed": t.requests_failed,
            "reconnects": t.reconnects,
            "spans_sent": t.spans_sent,
            "spans_accepted": t.spans_accepted,
            "spans_rejected": t.spans_rejected,
            "measured_spans_accepted": t.measured_spans,
            "spans_per_s": self.spans_per_second().round(),
            "requests_per_s": rounded(self.requests_per_second(), 1),
            "latency_us": {
                "p50": rounded(self.micros(0.5), 1),
                "p99": rounded(self.micros(0.99), 1),
                "max": rounded(t.latency.max() as f64 / 1000.0, 1),
            },
            "cpu_user_s": cpu_user,
            "cpu_system_s": cpu_system,
            "errors": t.errors,
        })
    }

    fn text(&self) -> String {
        let t = &self.tally;
        let mut out = format!(
            "loadgen: {} connections to {}, {} spans x {} attributes per batch ({} bytes)\n\
             measured {:.1}s after {:.1}s warm-up: {:.0} spans/s accepted, {:.1} requests/s\n\
             ack latency: p50 {:.0}us, p99 {:.0}us, max {:.0}us\n\
             totals: {} requests ok, {} throttled (429/503), {} failed; {} spans sent, {} accepted, {} rejected\n",
            self.connections,
            self.endpoint,
            self.spans_per_batch,
            self.attributes,
            self.batch_bytes,
            self.measured.as_secs_f64(),
            self.warmup.as_secs_f64(),
            self.spans_per_second(),
            self.requests_per_second(),
            self.micros(0.5),
            self.micros(0.99),
            t.latency.max() as f64 / 1000.0,
            t.requests_ok,
            t.requests_throttled,
            t.requests_failed,
            t.spans_sent,
            t.spans_accepted,
            t.spans_rejected,
        );
        if let Some((user, system)) = self.cpu {
            out.push_str(&format!(
                "loadgen cpu: {user:.2}s user, {system:.2}s system\n"
            ));
        }
        for error in &t.errors {
            out.push_str(&format!("error: {error}\n"));
        }
        out
    }
}

/// This process's user and system CPU time in seconds (Linux, from `/proc/self/stat`, whose
/// times are in USER_HZ = 100 ticks per second).
fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // the command name (field 2) is in parentheses and may hold spaces
    let after_name = stat.get(stat.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15, so 11 and 12 after the name and state
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user / 100.0, system / 100.0))
}

/// Runs the load generator and prints its report.
///
/// # Errors
///
/// An unusable endpoint or shape, a worker that could not run, or a run in which no request
/// was acknowledged (the report is printed first).
pub fn run(args: LoadgenArgs) -> Result<(), LoadgenError> {
    let endpoint = Endpoint::parse(&args.endpoint)?;
    let shape = Shape {
        spans_per_batch: args.spans_per_batch as usize,
        attributes: args.attributes as usize,
        spans_per_trace: args.spans_per_trace as usize,
        services: args.services as usize,
    };
    let base_time = unix_nanos();
    let templates = (0..VARIANTS)
        .map(|variant| {
            Template::new(
                shape,
                variant,
                &endpoint.authority,
                &endpoint.path,
                base_time,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let batch_bytes = templates.iter().map(Template::body_len).sum::<usize>() / templates.len();
    let (warmup, measure) = match (args.batches, args.duration) {
        (Some(_), _) => (args.warmup.unwrap_or(Duration::ZERO), None),
        (None, duration) => (
            args.warmup.unwrap_or(Duration::from_secs(2)),
            Some(duration.unwrap_or(Duration::from_secs(10))),
        ),
    };
    let connections = usize::from(args.connections);
    let plan = Plan {
        endpoint,
        templates,
        seed: IdSeed::new(base_time),
        next_sequence: AtomicU64::new(0),
        patch_times: !args.fixed_timestamps,
    };
    let cpu_before = cpu_seconds();
    let (tally, start) = std::thread::scope(|scope| -> Result<(Tally, Instant), LoadgenError> {
        let mut workers = Vec::with_capacity(connections);
        for worker in 0..connections {
            let (clock_tx, clock_rx) = mpsc::channel();
            let plan = &plan;
            let handle = std::thread::Builder::new()
                .name(format!("loadgen-{worker}"))
                .spawn_scoped(scope, move || work(plan, worker, clock_rx))
                .map_err(|e| LoadgenError::Thread(e.to_string()))?;
            workers.push((handle, clock_tx));
        }
        // the clock starts once every thread exists; each copies its batches before sending
        let start = Instant::now();
        let clock = Clock {
            stop: match (args.batches, measure) {
                (Some(batches), _) => Stop::After(batches),
                (None, measure) => Stop::At(start + warmup + measure.unwrap_or_default()),
            },
            measure_from: start + warmup,
            measure_until: measure.map(|m| start + warmup + m),
        };
        for (_, clock_tx) in &workers {
            let _ = clock_tx.send(clock);
        }
        let mut tally = Tally::default();
        for (handle, _) in workers {
            let worker_tally = handle
                .join()
                .map_err(|_| LoadgenError::Thread("a connection thread panicked".into()))?;
            tally.merge(worker_tally);
        }
        Ok((tally, start))
    })?;
    let cpu = cpu_seconds()
        .zip(cpu_before)
        .map(|((user, system), (user0, system0))| (user - user0, system - system0));
    let measured = match measure {
        Some(measure) => measure,
        // a fixed number of batches: from the warm-up's end to the last acknowledgement
        None => tally
            .last_completion
            .map(|last| last.saturating_duration_since(start + warmup))
            .unwrap_or_default(),
    };
    let nothing_acknowledged = tally.requests_ok == 0;
    let report = Report {
        endpoint: args.endpoint,
        connections: args.connections,
        spans_per_batch: args.spans_per_batch,
        attributes: args.attributes,
        batch_bytes,
        warmup,
        measured,
        tally,
        cpu,
    };
    if args.json {
        println!("{}", report.json());
    } else {
        print!("{}", report.text());
    }
    if nothing_acknowledged {
        let why =
            report.tally.errors.first().cloned().unwrap_or_else(|| {
                format!("{} requests throttled", report.tally.requests_throttled)
            });
        return Err(LoadgenError::NothingAcknowledged(why));
    }
    Ok(())
}
