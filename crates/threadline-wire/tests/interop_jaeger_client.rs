//! Interoperability with a real Jaeger peer: the Thrift classes that the Python
//! `jaeger-client` package ships (`jaeger_client.thrift_gen`) read our UDP `emitBatch`
//! packets, and what they read is checked field by field.
//!
//! `scripts/ci` installs jaeger-client into a virtual environment under `target/` and passes
//! its Python in `THREADLINE_PEERS_PYTHON`; a plain `cargo test` lists this test as ignored.

use std::sync::Arc;

use threadline::{KeyValue, Resource, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId};
use threadline_wire::jaeger::compact::{encode_emit_batches, MAX_PACKET_SIZE};

mod peers;

/// jaeger-client's generated classes reading a body and printing what it holds, one line per
/// fact (shared with threadline-export's quickstart test).
const DECODER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../scripts/peers/jaeger_decode.py"
);

fn spans() -> Vec<SpanData> {
    let resource = Arc::new(Resource {
        service_name: "interop-jaeger".into(),
        attributes: vec![KeyValue::new("host.name", "box-1")],
    });
    let trace = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let root_id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    let mut root = SpanData::new(trace, root_id, "main");
    root.kind = SpanKind::Server;
    root.start_time_unix_nano = 1_700_000_000_000_000_000;
    root.end_time_unix_nano = 1_700_000_001_000_000_000;
    root.attributes = vec![
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("attempt", 3),
        KeyValue::new("ratio", 0.5),
        KeyValue::new("cached", true),
    ];
    root.status = Some(Status::new(StatusCode::NotFound, "no such user"));
    root.resource = resource.clone();
    let mut spans = vec![root];
    for i in 0..10u64 {
        let mut child = SpanData::new(trace, SpanId(0x1000 + i), "doWork");
        child.parent_span_id = Some(root_id);
        child.kind = SpanKind::Client;
        child.start_time_unix_nano = 1_700_000_000_000_000_000 + i * 100_000_000;
        child.end_time_unix_nano = child.start_time_unix_nano + 50_000_000;
        child.annotations = vec![threadline::Annotation {
            time_unix_nano: child.start_time_unix_nano + 10_000_000,
            description: "invoking doWork".into(),
            attributes: vec![KeyValue::new("len", 5)],
            dropped_attributes_count: 0,
        }];
        child.resource = resource.clone();
        spans.push(child);
    }
    spans
}

#[test]
#[ignore = "needs jaeger-client, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn jaeger_client_reads_our_udp_packets() {
    let sent = spans();
    let packets = encode_emit_batches(&sent, MAX_PACKET_SIZE);
    assert!(packets.too_large.is_empty());
    assert_eq!(packets.packets.len(), 1);
    let text = peers::run_python(&[DECODER, "compact"], &packets.packets[0]);
    let lines: Vec<&str> = text.lines().collect();

    assert!(lines.contains(&"message emitBatch"), "{text}");
    assert!(lines.contains(&"service interop-jaeger"), "{text}");
    assert!(lines.contains(&"process_tag host.name 'box-1'"), "{text}");
    for span in &sent {
        let sid = span.span_id.to_string();
        let parent = span
            .parent_span_id
            .map_or("0000000000000000".to_string(), |p| p.to_string());
        let start_us = span.start_time_unix_nano / 1000;
        let duration_us = span.duration_nanos() / 1000;
        let expected = format!(
            "span {sid} {} {parent} {} 1 {start_us} {duration_us}",
            span.trace_id, span.name
        );
        assert!(
            lines.contains(&expected.as_str()),
            "no line {expected:?} in:\n{text}"
        );
        let has = |needle: &str| lines.iter().any(|l| l.starts_with(needle));
        if span.parent_span_id.is_some() {
            assert!(has(&format!("tag {sid} span.kind 'client'")), "{text}");
            assert!(
                has(&format!(
                    "log {sid} {} event='invoking doWork' len=5",
                    start_us + 10_000
                )),
                "{text}"
            );
            assert!(
                has(&format!("ref {sid} 0 {} {parent}", span.trace_id)),
                "no CHILD_OF reference for {sid}:\n{text}"
            );
        } else {
            for tag in [
                "span.kind 'server'",
                "http.request.method 'GET'",
                "attempt 3",
                "ratio 0.5",
                "cached True",
                "error True",
                "otel.status_code 'ERROR'",
                "otel.status_description 'no such user'",
            ] {
                assert!(has(&format!("tag {sid} {tag}")), "no tag {tag:?}:\n{text}");
            }
        }
    }
}
