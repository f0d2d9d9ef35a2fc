//! Interoperability with a real OTLP peer: the rotel collector (PyPI package `rotel`, binary
//! `rotel-agent`) receives our spans over OTLP/HTTP, protobuf and JSON, and (with the `grpc`
//! feature) over OTLP/gRPC, plain and gzipped, and prints what it decoded with
//! `--debug-log traces --debug-log-verbosity detailed`. The test reads that output back and
//! checks ids, parents, names, kinds, attributes, events and status.
//!
//! `scripts/ci` installs rotel into a virtual environment under `target/` and passes the
//! binary's path in `THREADLINE_ROTEL_AGENT`; a plain `cargo test` lists these tests as
//! ignored.

#[path = "support/rotel.rs"]
mod rotel;

use rotel::{Rotel, DEADLINE};
use threadline::{KeyValue, SpanData, SpanKind, Status, StatusCode, Tracer};
use threadline_export::{Compression, OtlpConfig, OtlpExporter, OtlpProtocol, RetryPolicy};

/// The quickstart's shape plus every kind of detail: a SERVER root with typed attributes and
/// an error status, ten CLIENT children with an event each.
fn make_trace(tracer: &Tracer) {
    let main = tracer
        .span_builder("main")
        .kind(SpanKind::Server)
        .attribute("http.request.method", "GET")
        .attribute("attempt", 3)
        .attribute("ratio", 0.5)
        .attribute("cached", true)
        .enter();
    for i in 0..10 {
        let work = tracer.span_builder("doWork").kind(SpanKind::Client).enter();
        work.add_attribute("i", i);
        work.add_annotation("invoking doWork", [KeyValue::new("len", 5)]);
    }
    main.set_status(Status::new(StatusCode::NotFound, "no such user"));
}

fn export_and_check(protocol: OtlpProtocol, compression: Compression) {
    let rotel = Rotel::start();
    let endpoint = match protocol {
        OtlpProtocol::Grpc => rotel.grpc_url(),
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => rotel.http_url(),
    };
    let exporter = OtlpExporter::new(OtlpConfig {
        endpoint,
        protocol,
        compression,
        ..OtlpConfig::default()
    })
    .expect("exporter");
    let (tracer, sent) = {
        let memory = threadline::InMemoryExporter::default();
        let tracer = Tracer::builder()
            .service_name("interop-rotel")
            .simple_exporter(Both(exporter, memory.clone()))
            .build();
        make_trace(&tracer);
        tracer.flush(DEADLINE).expect("flush");
        let sent = memory.spans();
        drop(
            tracer
                .span_builder("sentinel")
                .kind(SpanKind::Internal)
                .enter(),
        );
        tracer.flush(DEADLINE).expect("flush");
        (tracer, sent)
    };
    assert_eq!(tracer.stats().failed, 0, "{:?}", tracer.stats());
    assert_eq!(sent.len(), 11);

    let printed = rotel.spans_before("sentinel");
    assert_eq!(printed.len(), 11, "{printed:#?}");
    let by_id = |id: &str| -> &SpanData {
        sent.iter()
            .find(|s| s.span_id.to_string() == id)
            .unwrap_or_else(|| panic!("rotel printed span id {id:?} we did not send: {printed:#?}"))
    };
    let trace_id = sent[0].trace_id.to_string();
    let mut names = Vec::new();
    for p in &printed {
        let ours = by_id(&p.id);
        assert_eq!(p.trace_id, trace_id, "{p:?}");
        assert_eq!(p.name, ours.name, "{p:?}");
        let parent = ours
            .parent_span_id
            .map(|s| s.to_string())
            .unwrap_or_default();
        assert_eq!(p.parent_id, parent, "{p:?}");
        let kind = match ours.kind {
            SpanKind::Server => "SPAN_KIND_SERVER",
            SpanKind::Client => "SPAN_KIND_CLIENT",
            other => panic!("unexpected kind {other:?}"),
        };
        assert_eq!(p.kind, kind, "{p:?}");
        names.push(p.name.clone());
        let text = p.lines.join("\n");
        if p.name == "main" {
            for needle in [
                "http.request.method: Str(GET)",
                "attempt: Int(3)",
                "ratio: Double(0.5)",
                "cached: Bool(true)",
                "no such user",
            ] {
                assert!(text.contains(needle), "main lacks {needle}:\n{text}");
            }
            assert!(
                text.contains("ERROR") || text.contains("Error"),
                "no error status:\n{text}"
            );
        } else {
            assert!(text.contains("invoking doWork"), "no event:\n{text}");
            assert!(text.contains("len: Int(5)"), "no event attribute:\n{text}");
            assert!(text.contains("i: Int("), "no attribute:\n{text}");
        }
    }
    names.sort();
    assert_eq!(names.iter().filter(|n| *n == "doWork").count(), 10);
    assert_eq!(names.iter().filter(|n| *n == "main").count(), 1);
}

/// Sends to the peer and keeps a copy of what was sent.
struct Both(OtlpExporter, threadline::InMemoryExporter);

impl threadline::Exporter for Both {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), threadline::ExportError> {
        self.1.export(batch)?;
        self.0.export(batch)
    }
}

#[test]
#[ignore = "needs the rotel collector that scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_receives_otlp_http_protobuf() {
    export_and_check(OtlpProtocol::HttpProtobuf, Compression::Gzip);
}

#[test]
#[ignore = "needs the rotel collector that scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_receives_otlp_http_json() {
    export_and_check(OtlpProtocol::HttpJson, Compression::None);
}

#[cfg(feature = "grpc")]
#[test]
#[ignore = "needs the rotel collector that scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_receives_otlp_grpc() {
    export_and_check(OtlpProtocol::Grpc, Compression::None);
}

#[cfg(feature = "grpc")]
#[test]
#[ignore = "needs the rotel collector that scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_receives_otlp_grpc_gzip() {
    export_and_check(OtlpProtocol::Grpc, Compression::Gzip);
}

/// The collector goes away mid-stream and comes back on the same ports: the batch sent while it
/// is away fails within the exporter's timeout and is counted, nothing panics, and the next
/// batch reaches the new collector over a fresh connection.
fn going_away_and_coming_back(protocol: OtlpProtocol) {
    let first = Rotel::start();
    let (http_port, grpc_port) = (first.http_port, first.grpc_port);
    let endpoint = match protocol {
        OtlpProtocol::Grpc => first.grpc_url(),
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => first.http_url(),
    };
    let exporter = OtlpExporter::new(OtlpConfig {
        endpoint,
        protocol,
        timeout: std::time::Duration::from_secs(1),
        retry: RetryPolicy {
            initial_backoff: std::time::Duration::from_millis(20),
            max_backoff: std::time::Duration::from_millis(100),
        },
        ..OtlpConfig::default()
    })
    .expect("exporter");
    let tracer = Tracer::builder()
        .service_name("interop-rotel")
        .batch_exporter(exporter)
        .build();

    drop(tracer.span("before"));
    drop(tracer.span("sentinel"));
    tracer.flush(DEADLINE).expect("flush");
    let names: Vec<_> = first
        .spans_before("sentinel")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["before"]);
    assert_eq!(tracer.stats().exported, 2);

    drop(first);
    drop(tracer.span("while away"));
    // The flush returns once the exporter has given up on the batch.
    let _ = tracer.flush(DEADLINE);
    let stats = tracer.stats();
    assert_eq!((stats.exported, stats.failed), (2, 1), "{stats:?}");

    let second = Rotel::start_on(http_port, grpc_port);
    drop(tracer.span("after"));
    drop(tracer.span("sentinel"));
    tracer.flush(DEADLINE).expect("flush");
    let names: Vec<_> = second
        .spans_before("sentinel")
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["after"]);
    let stats = tracer.stats();
    assert_eq!(
        (stats.exported, stats.failed, stats.dropped),
        (4, 1, 0),
        "{stats:?}"
    );
    tracer.shutdown(DEADLINE).expect("shutdown");
}

#[test]
#[ignore = "needs the rotel collector that scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_goes_away_and_comes_back_otlp_http() {
    going_away_and_coming_back(OtlpProtocol::HttpProtobuf);
}

#[cfg(feature = "grpc")]
#[test]
#[ignore = "needs the rotel collector that scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_goes_away_and_comes_back_otlp_grpc() {
    going_away_and_coming_back(OtlpProtocol::Grpc);
}
