//! Encoding throughput of each wire format, and of opentelemetry-otlp for the same spans, in one
//! process.
//!
//! The batch: 512 spans of one service, 10 attributes each (4 strings, 3 ints, 2 doubles, a
//! bool), one annotation with an attribute on every 4th span, a parent on 7 spans of 8, an error
//! status on every 16th. One iteration encodes the whole batch:
//!
//! - `otlp_proto`: [`otlp::proto::encode`], the protobuf of the OTLP request written straight
//!   from the spans (the bytes prost writes for `otlp::to_request`'s message);
//! - `zipkin_json`: [`zipkin::json::encode`];
//! - `jaeger_compact`: [`jaeger::compact::encode_emit_batch`] (one `emitBatch` message here, as
//!   the batch has one resource);
//! - `opentelemetry_otlp`: what opentelemetry-otlp's HTTP/protobuf exporter does per batch,
//!   `group_spans_by_resource_and_scope` (from `opentelemetry-proto`, which the exporter calls)
//!   and `encode_to_vec` of the `ExportTraceServiceRequest`, on the equivalent
//!   `opentelemetry_sdk` `SpanData`. That function takes the batch by value, as the exporter
//!   does: each iteration gets a fresh clone, made outside the timing. Before timing, the bench
//!   checks that opentelemetry-otlp's own exporter, given a no-op HTTP client, sends exactly
//!   these bytes;
//! - `opentelemetry_otlp_export`: that exporter's whole `export` call (the above plus building
//!   the HTTP request) with the no-op client, for reference.
//!
//! Criterion measures every case first; then a fixed timing loop (best of several runs of about
//! 0.3 s) gives the summary table in spans per second, with the ratio to opentelemetry-otlp and
//! the bytes per batch.
//!
//! Modes:
//!
//! - `cargo bench -p threadline-wire --bench encode`: full run (about 25 s after the build).
//! - `... -- --quick`, or `THREADLINE_BENCH_QUICK=1 cargo bench ...`: short criterion runs
//!   and a short summary loop (about 3 s after the build).
//! - `cargo test --benches` (criterion's test mode): every case runs once.

use std::borrow::Cow;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use criterion::{BatchSize, Criterion, Throughput};
use opentelemetry::trace::{
    Event as OtelEvent, SpanContext, SpanId as OtelSpanId, SpanKind as OtelSpanKind,
    Status as OtelStatus, TraceFlags, TraceId as OtelTraceId, TraceState as OtelTraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue as OtelKeyValue, Value as OtelValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::trace::{
    SpanData as OtelSpanData, SpanEvents, SpanExporter as _, SpanLinks,
};
use opentelemetry_sdk::Resource as OtelResource;
use prost::Message as _;
use threadline::{
    Annotation, KeyValue, Resource, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId, Value,
};
use threadline_wire::{jaeger, otlp, zipkin};

/// Spans per batch.
const BATCH: usize = 512;
/// Spans per second per core that every format should reach.
const TARGET_SPANS_PER_SEC: f64 = 1_000_000.0;
/// How much faster than opentelemetry-otlp Threadline's OTLP encoding should be.
const TARGET_OTLP_RATIO: f64 = 2.0;
const ENDPOINT: &str = "http://localhost:4318/v1/traces";

// ---------------------------------------------------------------------------------------------
// The batch, as Threadline spans and as the equivalent opentelemetry_sdk spans.

const ROUTES: [&str; 4] = [
    "GET /api/v1/orders/{id}",
    "POST /api/v1/cart/items",
    "GET /api/v1/catalog/search",
    "SELECT orders",
];
const BASE_TIME_NANOS: u64 = 1_718_000_000_000_000_000;

fn threadline_batch() -> Vec<SpanData> {
    let resource = Arc::new(Resource {
        service_name: "checkout".into(),
        attributes: vec![
            KeyValue::new("service.version", "1.14.2"),
            KeyValue::new("service.instance.id", "checkout-7d9f8c6b5-x2kqp"),
            KeyValue::new("host.name", "ip-10-0-3-17.eu-west-1.compute.internal"),
            KeyValue::new("telemetry.sdk.language", "rust"),
        ],
    });
    // A splitmix-style sequence: realistic-looking, reproducible ids.
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut trace_id = TraceId(0);
    let mut root_id = SpanId(0);
    (0..BATCH)
        .map(|i| {
            let route = ROUTES[i % ROUTES.len()];
            let span_id = SpanId(next() | 1);
            let root = i % 8 == 0;
            if root {
                trace_id = TraceId((u128::from(next()) << 64) | u128::from(next()));
                root_id = span_id;
            }
            let start = BASE_TIME_NANOS + i as u64 * 1_250_000;
            let mut span = SpanData::new(trace_id, span_id, route);
            span.parent_span_id = (!root).then_some(root_id);
            span.kind = match i % 8 {
                0 => SpanKind::Server,
                1..=3 => SpanKind::Client,
                _ => SpanKind::Internal,
            };
            span.start_time_unix_nano = start;
            span.end_time_unix_nano = start + 180_000 + (next() % 4_000_000);
            let order_id = next() % 1_000_000;
            span.attributes = vec![
                KeyValue::new(
                    "http.request.method",
                    if i % 2 == 0 { "GET" } else { "POST" },
                ),
                KeyValue::new("url.path", format!("/api/v1/orders/{order_id}")),
                KeyValue::new("server.address", "orders.checkout.svc.cluster.local"),
                KeyValue::new(
                    "user_agent.original",
                    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
                ),
                KeyValue::new(
                    "http.response.status_code",
                    if i % 16 == 15 { 503 } else { 200 },
                ),
                KeyValue::new("server.port", 8443),
                KeyValue::new("http.response.body.size", (next() % 64_000) as i64),
                KeyValue::new("app.cart.total", (next() % 100_000) as f64 / 100.0),
                KeyValue::new("db.query.duration_ms", (next() % 5_000) as f64 / 7.0),
                KeyValue::new("app.cache.hit", i % 3 == 0),
            ];
            if i % 4 == 0 {
                span.annotations.push(Annotation {
                    time_unix_nano: start + 90_000,
                    description: "cache miss".into(),
                    attributes: vec![KeyValue::new("cache.key", format!("order:{order_id}"))],
                    dropped_attributes_count: 0,
                });
            }
            if i % 16 == 15 {
                span.status = Some(Status::new(StatusCode::Unknown, "upstream unavailable"));
            }
            span.resource = Arc::clone(&resource);
            span.scope = "checkout-api".into();
            span
        })
        .collect()
}

fn otel_resource(span: &SpanData) -> OtelResource {
    OtelResource::builder_empty()
        .with_service_name(to_otel_str(&span.resource.service_name))
        .with_attributes(span.resource.attributes.iter().map(to_otel_kv))
        .build()
}

/// The same string, kept borrowed when it is `'static`, so that both sides allocate alike.
#[allow(clippy::ptr_arg)] // the `Cow` variant is what is read, so `&str` would not do
fn to_otel_str(s: &Cow<'static, str>) -> Cow<'static, str> {
    match s {
        Cow::Borrowed(s) => Cow::Borrowed(s),
        Cow::Owned(s) => Cow::Owned(s.clone()),
    }
}

fn to_otel_kv(kv: &KeyValue) -> OtelKeyValue {
    let value = match &kv.value {
        Value::Str(s) => OtelValue::from(to_otel_str(s)),
        Value::I64(v) => OtelValue::I64(*v),
        Value::F64(v) => OtelValue::F64(*v),
        Value::Bool(v) => OtelValue::Bool(*v),
        other => unreachable!("the batch has no {} values", other.type_name()),
    };
    OtelKeyValue::new(to_otel_str(&kv.key), value)
}

fn to_system_time(nanos: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(nanos)
}

fn otel_batch(spans: &[SpanData]) -> Vec<OtelSpanData> {
    let scope = InstrumentationScope::builder("checkout-api").build();
    spans
        .iter()
        .map(|span| {
            let mut events = SpanEvents::default();
            events.events = span
                .annotations
                .iter()
                .map(|a| {
                    OtelEvent::new(
                        to_otel_str(&a.description),
                        to_system_time(a.time_unix_nano),
                        a.attributes.iter().map(to_otel_kv).collect(),
                        a.dropped_attributes_count,
                    )
                })
                .collect();
            OtelSpanData {
                span_context: SpanContext::new(
                    OtelTraceId::from(span.trace_id.0),
                    OtelSpanId::from(span.span_id.0),
                    TraceFlags::SAMPLED,
                    false,
                    OtelTraceState::default(),
                ),
                parent_span_id: span
                    .parent_span_id
                    .map_or(OtelSpanId::INVALID, |id| OtelSpanId::from(id.0)),
                parent_span_is_remote: span.parent_is_remote,
                span_kind: match span.kind {
                    SpanKind::Server => OtelSpanKind::Server,
                    SpanKind::Client => OtelSpanKind::Client,
                    SpanKind::Producer => OtelSpanKind::Producer,
                    SpanKind::Consumer => OtelSpanKind::Consumer,
                    SpanKind::Internal | SpanKind::Unspecified => OtelSpanKind::Internal,
                },
                name: to_otel_str(&span.name),
                start_time: to_system_time(span.start_time_unix_nano),
                end_time: to_system_time(span.end_time_unix_nano),
                attributes: span.attributes.iter().map(to_otel_kv).collect(),
                dropped_attributes_count: 0,
                events,
                links: SpanLinks::default(),
                status: match &span.status {
                    None => OtelStatus::Unset,
                    Some(s) if s.canonical_code() == StatusCode::Ok => OtelStatus::Ok,
                    Some(s) => OtelStatus::error(s.description().to_string()),
                },
                instrumentation_scope: scope.clone(),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The peer.

/// What opentelemetry-otlp's HTTP/protobuf exporter does to a batch before sending it.
fn otel_encode(spans: Vec<OtelSpanData>, resource: &ResourceAttributesWithSchema) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(spans, resource),
    };
    request.encode_to_vec()
}

/// An HTTP client that answers every request with an empty 200 and keeps the last body.
#[derive(Debug, Default, Clone)]
struct NoopHttpClient {
    last_body: Arc<Mutex<Option<Bytes>>>,
}

impl HttpClient for NoopHttpClient {
    fn send_bytes<'a, 'f>(
        &'a self,
        request: Request<Bytes>,
    ) -> Pin<Box<dyn Future<Output = Result<Response<Bytes>, HttpError>> + Send + 'f>>
    where
        'a: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            if let Ok(mut last) = self.last_body.lock() {
                *last = Some(request.into_body());
            }
            Ok(Response::new(Bytes::new()))
        })
    }
}

struct OtlpExporter {
    exporter: opentelemetry_otlp::SpanExporter,
    client: NoopHttpClient,
    runtime: tokio::runtime::Runtime,
}

impl OtlpExporter {
    fn new(resource: &OtelResource) -> OtlpExporter {
        let client = NoopHttpClient::default();
        let mut exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(ENDPOINT)
            .with_http_client(client.clone())
            .build()
            .expect("the opentelemetry-otlp exporter builds");
        exporter.set_resource(resource);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread tokio runtime builds");
        OtlpExporter {
            exporter,
            client,
            runtime,
        }
    }

    fn export(&self, spans: Vec<OtelSpanData>) {
        let result = self.runtime.block_on(self.exporter.export(spans));
        if let Err(error) = result {
            panic!("opentelemetry-otlp export failed: {error}");
        }
    }

    fn last_body(&self) -> Vec<u8> {
        self.client
            .last_body
            .lock()
            .ok()
            .and_then(|body| body.as_ref().map(|b| b.to_vec()))
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// The cases.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    OtlpProto,
    ZipkinJson,
    JaegerCompact,
    OpentelemetryOtlp,
    OpentelemetryOtlpExport,
}

impl Case {
    const ALL: [Case; 5] = [
        Case::OtlpProto,
        Case::ZipkinJson,
        Case::JaegerCompact,
        Case::OpentelemetryOtlp,
        Case::OpentelemetryOtlpExport,
    ];

    fn id(self) -> &'static str {
        match self {
            Case::OtlpProto => "otlp_proto",
            Case::ZipkinJson => "zipkin_json",
            Case::JaegerCompact => "jaeger_compact",
            Case::OpentelemetryOtlp => "opentelemetry_otlp",
            Case::OpentelemetryOtlpExport => "opentelemetry_otlp_export",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Case::OtlpProto => "threadline OTLP protobuf",
            Case::ZipkinJson => "threadline Zipkin JSON",
            Case::JaegerCompact => "threadline Jaeger compact",
            Case::OpentelemetryOtlp => "opentelemetry-otlp (transform + encode)",
            Case::OpentelemetryOtlpExport => "opentelemetry-otlp export() incl. HTTP req",
        }
    }

    /// Whether the case consumes its own copy of the batch.
    fn takes_ownership(self) -> bool {
        matches!(
            self,
            Case::OpentelemetryOtlp | Case::OpentelemetryOtlpExport
        )
    }
}

struct Bench {
    spans: Vec<SpanData>,
    otel_spans: Vec<OtelSpanData>,
    otel_resource: ResourceAttributesWithSchema,
    exporter: OtlpExporter,
}

impl Bench {
    fn new() -> Bench {
        let spans = threadline_batch();
        let otel_spans = otel_batch(&spans);
        let resource = otel_resource(&spans[0]);
        Bench {
            otel_resource: ResourceAttributesWithSchema::from(&resource),
            exporter: OtlpExporter::new(&resource),
            spans,
            otel_spans,
        }
    }

    /// Encodes the batch once; returns the bytes produced (all messages, for Jaeger).
    fn encode(&self, case: Case, otel_spans: Vec<OtelSpanData>) -> usize {
        match case {
            Case::OtlpProto => black_box(otlp::proto::encode(black_box(&self.spans))).len(),
            Case::ZipkinJson => black_box(zipkin::json::encode(black_box(&self.spans))).len(),
            Case::JaegerCompact => {
                black_box(jaeger::compact::encode_emit_batch(black_box(&self.spans)))
                    .iter()
                    .map(Vec::len)
                    .sum()
            }
            Case::OpentelemetryOtlp => {
                black_box(otel_encode(otel_spans, &self.otel_resource)).len()
            }
            Case::OpentelemetryOtlpExport => {
                self.exporter.export(otel_spans);
                0
            }
        }
    }

    /// The input a case consumes: a clone of the SDK batch for the peer, nothing otherwise.
    fn input(&self, case: Case) -> Vec<OtelSpanData> {
        if case.takes_ownership() {
            self.otel_spans.clone()
        } else {
            Vec::new()
        }
    }

    /// Encodes the batch `iters` times; returns the time spent encoding, input clones excluded.
    fn timed(&self, case: Case, iters: u64) -> Duration {
        let mut elapsed = Duration::ZERO;
        for _ in 0..iters {
            let input = self.input(case);
            let start = Instant::now();
            self.encode(case, input);
            elapsed += start.elapsed();
        }
        elapsed
    }

    /// Bytes per batch.
    fn bytes(&self, case: Case) -> usize {
        match case {
            Case::OpentelemetryOtlpExport => {
                self.encode(case, self.input(case));
                self.exporter.last_body().len()
            }
            _ => self.encode(case, self.input(case)),
        }
    }

    /// Fails loudly when the peer does not measure what it claims to: the body timed for
    /// opentelemetry-otlp must be the one its exporter sends, and Threadline's OTLP body must
    /// hold the same spans.
    fn check(&self) {
        let peer = otel_encode(self.otel_spans.clone(), &self.otel_resource);
        self.exporter.export(self.otel_spans.clone());
        assert_eq!(
            peer,
            self.exporter.last_body(),
            "the timed opentelemetry-otlp encoding differs from what its exporter sends"
        );
        let ours = otlp::proto::decode(&otlp::proto::encode(&self.spans))
            .expect("threadline's OTLP body decodes");
        let theirs = otlp::proto::decode(&peer).expect("opentelemetry-otlp's body decodes");
        assert_eq!(ours.len(), BATCH);
        assert_eq!(theirs.len(), BATCH);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(
                (a.trace_id, a.span_id, &a.name),
                (b.trace_id, b.span_id, &b.name)
            );
            assert_eq!(a.attributes, b.attributes, "span {}", a.name);
            assert_eq!(a.annotations, b.annotations, "span {}", a.name);
            assert_eq!(a.status, b.status, "span {}", a.name);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Run modes.

#[path = "../../threadline/benches/support/mode.rs"]
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
                warm_up: Duration::from_millis(200),
                repetition: Duration::from_millis(300),
                repetitions: 7,
            },
            Mode::Quick => Timing {
                warm_up: Duration::from_millis(50),
                repetition: Duration::from_millis(100),
                repetitions: 3,
            },
            Mode::Test | Mode::CriterionOnly => Timing {
                warm_up: Duration::ZERO,
                repetition: Duration::ZERO,
                repetitions: 1,
            },
        }
    }

    /// Best spans per second over the repetitions.
    fn best_spans_per_sec(&self, bench: &Bench, case: Case) -> f64 {
        let started = Instant::now();
        let mut per_batch = f64::INFINITY;
        while started.elapsed() < self.warm_up || per_batch.is_infinite() {
            let t = bench.timed(case, 1);
            per_batch = per_batch.min(t.as_secs_f64());
        }
        let iters = ((self.repetition.as_secs_f64() / per_batch.max(1e-9)) as u64).max(1);
        let mut best = f64::INFINITY;
        for _ in 0..self.repetitions {
            best = best.min(bench.timed(case, iters).as_secs_f64() / iters as f64);
        }
        BATCH as f64 / best
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
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(1))
            .sample_size(20),
    };
    c.configure_from_args()
}

fn criterion_benches(c: &mut Criterion, bench: &Bench) {
    let mut group = c.benchmark_group("encode_512_spans");
    group.throughput(Throughput::Elements(BATCH as u64));
    for case in Case::ALL {
        group.bench_function(case.id(), |b| {
            b.iter_batched(
                || bench.input(case),
                |input| bench.encode(case, input),
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------------
// The summary.

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn summary(bench: &Bench, timing: &Timing, mode: Mode) {
    println!("\n=== wire encoding, {BATCH} spans per batch ({mode:?} mode) ===");
    println!(
        "10 attributes per span (4 strings, 3 ints, 2 doubles, 1 bool), an annotation on every \
         4th span; best of {} runs of ~{} ms each, one core",
        timing.repetitions,
        timing.repetition.as_millis()
    );
    let rates: Vec<(Case, f64, usize)> = Case::ALL
        .iter()
        .map(|&case| {
            (
                case,
                timing.best_spans_per_sec(bench, case),
                bench.bytes(case),
            )
        })
        .collect();
    let rate = |wanted: Case| {
        rates
            .iter()
            .find(|(case, _, _)| *case == wanted)
            .map_or(f64::NAN, |(_, r, _)| *r)
    };
    let peer = rate(Case::OpentelemetryOtlp);
    println!(
        "\n{:<44} {:>12} {:>9} {:>12} {:>10} {:>14}",
        "format", "spans/s", "ns/span", "bytes/batch", "bytes/span", "target 1M/s"
    );
    for (case, spans_per_sec, bytes) in &rates {
        let target = if matches!(case, Case::OpentelemetryOtlpExport) {
            "-"
        } else {
            verdict(*spans_per_sec >= TARGET_SPANS_PER_SEC)
        };
        println!(
            "{:<44} {:>12.0} {:>9.1} {:>12} {:>10.1} {:>14}",
            case.name(),
            spans_per_sec,
            1e9 / spans_per_sec,
            bytes,
            *bytes as f64 / BATCH as f64,
            target
        );
    }
    let ratio = rate(Case::OtlpProto) / peer;
    println!(
        "\nthreadline OTLP / opentelemetry-otlp (transform + encode): {ratio:.2}x (target >= \
         {TARGET_OTLP_RATIO:.0}x: {})",
        verdict(ratio >= TARGET_OTLP_RATIO)
    );
    println!(
        "threadline OTLP / opentelemetry-otlp export() incl. HTTP request: {:.2}x",
        rate(Case::OtlpProto) / rate(Case::OpentelemetryOtlpExport)
    );
    println!(
        "(the opentelemetry-otlp cases consume a clone of the SDK batch, made outside the timing; \
         their body is 2 bytes longer per span without a status: an empty UNSET status)"
    );
}

fn main() {
    let mode = mode();
    let bench = Bench::new();
    bench.check();
    let mut c = criterion(mode);
    criterion_benches(&mut c, &bench);
    c.final_summary();
    if mode != Mode::CriterionOnly {
        summary(&bench, &Timing::for_mode(mode), mode);
    }
}
