//! A backend that hangs does not hold up the instrumented code, with each real HTTP exporter
//! behind the batch processor.
//!
//! The backend takes the first export request and does not answer until the test opens a gate.
//! While that request is in flight, an instrumented thread starts and ends far more spans than
//! the queue holds. It must finish while the export is still outstanding (nothing exported,
//! nothing failed yet): had it waited for queue space or for the exporter, it could not. Once
//! the backend answers, the spans that fit the queue are delivered and every other span is
//! counted as dropped; none is unaccounted for.

mod support;

use std::sync::mpsc;
use std::time::Duration;

use support::{Gate, Reply, Server};
use threadline::{BatchConfig, Exporter, Tracer};
use threadline_export::{
    JaegerConfig, JaegerExporter, JaegerProtocol, OtlpConfig, OtlpExporter, ZipkinConfig,
    ZipkinExporter,
};

/// Longer than the test ever holds a request, so no export times out or retries.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(120);
const FIRST_BATCH: usize = 16;
const QUEUE: usize = 64;
const SPANS: u64 = 20_000;

/// Runs the scenario against a fresh backend with the exporter `make` builds for it.
fn check<E: Exporter>(make: impl FnOnce(&Server) -> E) {
    let server = Server::start();
    let gate = Gate::default();
    server.reply(Reply::Hold(gate.clone()));
    let exporter = make(&server);
    run(exporter, &server, &gate);
}

fn run(exporter: impl Exporter, server: &Server, gate: &Gate) {
    let tracer = Tracer::builder()
        .service_name("hanging")
        .batch_config(BatchConfig {
            max_queue_size: QUEUE,
            max_export_batch_size: FIRST_BATCH,
            scheduled_delay: Duration::from_millis(10),
            export_timeout: EXPORT_TIMEOUT,
        })
        .batch_exporter(exporter)
        .build();

    // One full batch goes out; the backend takes it and hangs.
    for i in 0..FIRST_BATCH {
        tracer.span("first batch").add_attribute("i", i as i64);
    }
    let held = server.next_request();
    assert_eq!(held.method, "POST");

    // The instrumented thread, while that request is outstanding.
    let (done_tx, done) = mpsc::channel();
    let worker = tracer.clone();
    std::thread::spawn(move || {
        for i in 0..SPANS {
            let span = worker.span("while hanging");
            span.add_attribute("i", i as i64);
        }
        done_tx.send(()).unwrap();
    });
    // A generous bound that only fires if the thread is stuck behind the exporter.
    done.recv_timeout(Duration::from_secs(60))
        .expect("the instrumented thread finished while the backend hung");
    let during = tracer.stats();
    assert_eq!(
        (during.exported, during.failed),
        (0, 0),
        "the held export was still outstanding when the instrumented thread finished"
    );

    gate.open();
    tracer.flush(Duration::from_secs(60)).unwrap();
    let after = tracer.stats();
    eprintln!("after the backend answered: {after:?}");
    let total = FIRST_BATCH as u64 + SPANS;
    assert_eq!(after.failed, 0, "{after:?}");
    assert_eq!(after.queued, 0, "{after:?}");
    assert!(
        after.exported >= FIRST_BATCH as u64,
        "the held batch and what fit the queue were delivered: {after:?}"
    );
    assert!(
        after.dropped > 0,
        "more spans than the queue holds: {after:?}"
    );
    assert_eq!(
        after.exported + after.dropped,
        total,
        "every span exported or counted as dropped: {after:?}"
    );
    tracer.shutdown(Duration::from_secs(10)).unwrap();
}

#[test]
fn zipkin() {
    check(|server| {
        ZipkinExporter::new(ZipkinConfig {
            endpoint: server.url("/api/v2/spans"),
            timeout: EXPORT_TIMEOUT,
            ..ZipkinConfig::default()
        })
        .unwrap()
    });
}

#[test]
fn otlp_http() {
    check(|server| {
        OtlpExporter::new(OtlpConfig {
            endpoint: server.url("/v1/traces"),
            timeout: EXPORT_TIMEOUT,
            ..OtlpConfig::default()
        })
        .unwrap()
    });
}

#[test]
fn jaeger_collector() {
    check(|server| {
        JaegerExporter::new(JaegerConfig {
            protocol: JaegerProtocol::HttpThriftBinary,
            endpoint: server.url("/api/traces"),
            timeout: EXPORT_TIMEOUT,
            ..JaegerConfig::default()
        })
        .unwrap()
    });
}
