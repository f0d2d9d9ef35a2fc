//! The disk store keeps every span the server acknowledged: through a SIGKILL in the middle of
//! a stream of requests, and through a plain stop and start.

mod support;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitStatus;
use std::sync::{mpsc, Arc};
use std::time::{SystemTime, UNIX_EPOCH};

use support::{ServerProcess, DEADLINE};

use threadline::{KeyValue, Resource, SpanData, SpanId, TraceId};
use threadline_wire::otlp::proto;

const SPANS_PER_TRACE: u64 = 10;
const TRACES_PER_BATCH: u64 = 5;

/// `threadline serve` on free ports with its disk store in a directory.
struct Server(ServerProcess);

impl Server {
    fn start(dir: &Path) -> Server {
        let dir = dir.to_str().expect("a utf-8 temporary path");
        Server(ServerProcess::start(&["--data-dir", dir]))
    }

    fn otlp(&self) -> SocketAddr {
        self.0.address("otlp http")
    }

    fn query(&self) -> SocketAddr {
        self.0.address("query http")
    }

    fn sigterm(self) -> ExitStatus {
        self.0.stop()
    }

    fn sigkill(self) -> ExitStatus {
        self.0.kill_9()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

/// The trace ids of batch `n`: `TRACES_PER_BATCH` traces of `SPANS_PER_TRACE` spans each.
fn batch(n: u64) -> (Vec<u128>, Vec<SpanData>) {
    let resource = Arc::new(Resource::new("durability"));
    let start = now();
    let mut traces = Vec::new();
    let mut spans = Vec::new();
    for t in 0..TRACES_PER_BATCH {
        let trace = (u128::from(n) << 32) | u128::from(t) | (0xd0 << 96);
        traces.push(trace);
        for s in 0..SPANS_PER_TRACE {
            let mut span = SpanData::new(TraceId(trace), SpanId(s + 1), format!("op {s}"));
            span.resource = resource.clone();
            span.parent_span_id = (s > 0).then_some(SpanId(1));
            span.start_time_unix_nano = start + s * 1_000;
            span.end_time_unix_nano = start + s * 1_000 + 500;
            span.attributes.push(KeyValue::new("batch", n as i64));
            span.attributes
                .push(KeyValue::new("payload", "x".repeat(200)));
            spans.push(span);
        }
    }
    (traces, spans)
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(DEADLINE))
        .build()
        .into()
}

/// Posts batch `n` over OTLP/HTTP; its trace ids when the server answered 200.
fn post(agent: &ureq::Agent, otlp: SocketAddr, n: u64) -> Option<Vec<u128>> {
    let (traces, spans) = batch(n);
    let reply = agent
        .post(format!("http://{otlp}/v1/traces"))
        .header("content-type", proto::CONTENT_TYPE)
        .send(&proto::encode(&spans)[..])
        .ok()?;
    (reply.status().as_u16() == 200).then_some(traces)
}

/// The span ids of a trace as the Zipkin query API returns it; empty when not found.
fn span_ids(agent: &ureq::Agent, query: SocketAddr, trace: u128) -> Vec<u64> {
    let mut reply = agent
        .get(format!("http://{query}/api/v2/trace/{trace:032x}"))
        .call()
        .expect("query");
    if reply.status().as_u16() == 404 {
        return Vec::new();
    }
    assert_eq!(reply.status().as_u16(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&reply.body_mut().read_to_string().expect("body")).expect("json");
    let mut ids: Vec<u64> = body
        .as_array()
        .expect("an array of spans")
        .iter()
        .map(|span| u64::from_str_radix(span["id"].as_str().expect("id"), 16).expect("hex"))
        .collect();
    ids.sort_unstable();
    ids
}

fn assert_all_kept(server: &Server, acknowledged: &[u128]) {
    let agent = agent();
    let expected: Vec<u64> = (1..=SPANS_PER_TRACE).collect();
    for &trace in acknowledged {
        assert_eq!(
            span_ids(&agent, server.query(), trace),
            expected,
            "trace {trace:032x} was acknowledged"
        );
    }
}

#[test]
fn every_acknowledged_span_survives_a_sigkill_mid_stream() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = Server::start(dir.path());
    let otlp = server.otlp();
    let (acks_tx, acks_rx) = mpsc::channel();
    let poster = std::thread::spawn(move || {
        let agent = agent();
        // until the server is gone: a refused connection or a request cut off
        for n in 0.. {
            match post(&agent, otlp, n) {
                Some(traces) => {
                    if acks_tx.send(traces).is_err() {
                        return;
                    }
                }
                None => return,
            }
        }
    });
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 40 * TRACES_PER_BATCH as usize {
        acknowledged.extend(
            acks_rx
                .recv_timeout(DEADLINE)
                .expect("batches acknowledged before the deadline"),
        );
    }
    let status = server.sigkill();
    assert_eq!(status.code(), None, "killed by a signal: {status:?}");
    poster.join().expect("poster");
    // the acknowledgements that arrived before the kill
    acknowledged.extend(acks_rx.try_iter().flatten());

    let server = Server::start(dir.path());
    assert_all_kept(&server, &acknowledged);
    // and the store keeps taking spans after the crash
    let more = post(&agent(), server.otlp(), 1_000_000).expect("accepted after restart");
    assert_all_kept(&server, &more);
    assert_eq!(server.sigterm().code(), Some(0));
}

#[test]
fn spans_services_and_operations_survive_a_restart() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let server = Server::start(dir.path());
    let agent = agent();
    let mut acknowledged = Vec::new();
    for n in 0..3 {
        acknowledged.extend(post(&agent, server.otlp(), n).expect("accepted"));
    }
    assert_eq!(server.sigterm().code(), Some(0));

    let server = Server::start(dir.path());
    assert_all_kept(&server, &acknowledged);
    let services = agent
        .get(format!("http://{}/api/v2/services", server.query()))
        .call()
        .expect("services")
        .body_mut()
        .read_to_string()
        .expect("body");
    assert_eq!(services, r#"["durability"]"#);
    let spans = agent
        .get(format!(
            "http://{}/api/v2/spans?serviceName=durability",
            server.query()
        ))
        .call()
        .expect("span names")
        .body_mut()
        .read_to_string()
        .expect("body");
    assert!(spans.contains(r#""op 9""#), "{spans}");
    assert_eq!(server.sigterm().code(), Some(0));
}
