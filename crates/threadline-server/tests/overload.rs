//! Overload control: with one batch allowed in flight and the store holding that batch until
//! the test opens a gate, every receiver refuses the next batch (HTTP 429 with Retry-After,
//! gRPC RESOURCE_EXHAUSTED with RetryInfo, a UDP datagram dropped) and counts it as
//! throttled; once the gate opens, the held batch is stored and new batches are accepted.

mod common;

use std::net::UdpSocket;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use common::{get, gzip, post, sample_trace, TestServer};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use threadline::{SpanData, TraceId};
use threadline_server::receive::ReceiverCounters;
use threadline_server::store::{
    DependencyLink, MemoryStore, Operation, SpanStore, StoreCounters, StoreError, TraceQuery,
};
use threadline_server::ServerConfig;
use threadline_wire::{jaeger, otlp, zipkin};

/// A memory store whose `append` announces itself and then waits until the gate is open.
struct GatedStore {
    inner: Arc<MemoryStore>,
    open: Mutex<bool>,
    opened: Condvar,
    entered: Mutex<Sender<()>>,
}

impl GatedStore {
    fn new(inner: Arc<MemoryStore>) -> (Arc<Self>, Receiver<()>) {
        let (entered, entries) = mpsc::channel();
        let store = Arc::new(GatedStore {
            inner,
            open: Mutex::new(false),
            opened: Condvar::new(),
            entered: Mutex::new(entered),
        });
        (store, entries)
    }

    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

impl SpanStore for GatedStore {
    fn append(&self, spans: Vec<SpanData>) -> Result<(), StoreError> {
        let _ = self.entered.lock().unwrap().send(());
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
        drop(open);
        self.inner.append(spans)
    }

    fn trace(&self, trace_id: TraceId) -> Result<Option<Vec<SpanData>>, StoreError> {
        self.inner.trace(trace_id)
    }

    fn services(&self) -> Result<Vec<String>, StoreError> {
        self.inner.services()
    }

    fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError> {
        self.inner.operations(service)
    }

    fn remote_services(&self, service: &str) -> Result<Vec<String>, StoreError> {
        self.inner.remote_services(service)
    }

    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Vec<SpanData>>, StoreError> {
        self.inner.find_traces(query)
    }

    fn dependencies(&self, start: u64, end: u64) -> Result<Vec<DependencyLink>, StoreError> {
        self.inner.dependencies(start, end)
    }

    fn counters(&self) -> StoreCounters {
        self.inner.counters()
    }
}

const DEADLINE: Duration = Duration::from_secs(30);

/// Waits until the receiver's counters meet `done` (a UDP datagram has no answer to wait on).
fn wait_for(server: &TestServer, receiver: &str, done: impl Fn(&ReceiverCounters) -> bool) {
    let start = Instant::now();
    loop {
        let counters = server.receiver(receiver);
        if done(&counters) {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "{receiver}: {counters:?}");
        std::thread::yield_now();
    }
}

#[test]
fn every_receiver_refuses_past_the_bound_and_recovers() {
    let memory = Arc::new(MemoryStore::new(10_000));
    let (store, entries) = GatedStore::new(memory.clone());
    let config = ServerConfig {
        max_batches_in_flight: 1,
        ..ServerConfig::any_port()
    };
    let server = TestServer::with_store(config, store.clone(), memory);

    // the first batch takes the only permit and waits in the store
    let zipkin_json = [("content-type", "application/json")];
    let held_body = zipkin::json::encode(&sample_trace(0x1));
    let zipkin_address = server.zipkin;
    let held = std::thread::spawn(move || {
        post(zipkin_address, "/api/v2/spans", &zipkin_json, &held_body).status
    });
    entries
        .recv_timeout(DEADLINE)
        .expect("the first batch reaches the store");

    let other = sample_trace(0x2);
    let reply = post(
        server.zipkin,
        "/api/v2/spans",
        &zipkin_json,
        &zipkin::json::encode(&other),
    );
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    assert!(reply.body.contains("overloaded"), "{}", reply.body);

    let reply = post(
        server.otlp_http,
        "/v1/traces",
        &[
            ("content-type", "application/x-protobuf"),
            ("content-encoding", "gzip"),
        ],
        &gzip(&otlp::proto::encode(&other)),
    );
    assert_eq!(reply.status, 429);
    assert_eq!(reply.retry_after.as_deref(), Some("1"));
    assert_eq!(reply.content_type, "application/x-protobuf");

    let reply = post(
        server.jaeger_http,
        "/api/traces",
        &[("content-type", "application/x-thrift")],
        &jaeger::binary::encode_batch(&other)[0],
    );
    assert_eq!(reply.status, 429);
    assert_eq!(reply.retry_after.as_deref(), Some("1"));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut client = runtime
        .block_on(TraceServiceClient::connect(format!(
            "http://{}",
            server.otlp_grpc
        )))
        .expect("grpc connection");
    let status = runtime
        .block_on(client.export(otlp::to_request(&other)))
        .expect_err("throttled");
    assert_eq!(status.code(), tonic::Code::ResourceExhausted);
    // google.rpc.Status { details: [Any { type_url: ".../google.rpc.RetryInfo", ... }] }
    let details = String::from_utf8_lossy(status.details()).into_owned();
    assert!(details.contains("google.rpc.RetryInfo"), "{details:?}");

    let socket = UdpSocket::bind("127.0.0.1:0").expect("udp");
    for (address, datagram) in [
        (
            server.jaeger_compact,
            jaeger::compact::encode_emit_batch(&other).remove(0),
        ),
        (
            server.jaeger_binary,
            jaeger::binary::encode_emit_batch(&other).remove(0),
        ),
    ] {
        socket.send_to(&datagram, address).expect("send");
    }
    wait_for(&server, "jaeger compact udp", |c| c.requests_throttled == 1);
    wait_for(&server, "jaeger binary udp", |c| c.requests_throttled == 1);

    // nothing refused was stored, and the held batch is not stored yet
    assert_eq!(server.store.counters().stored, 0);

    store.open();
    assert_eq!(held.join().expect("held request"), 202);
    assert_eq!(server.store.counters().stored, 3);

    // with the permit back, batches are accepted again, over UDP too
    let reply = post(
        server.zipkin,
        "/api/v2/spans",
        &zipkin_json,
        &zipkin::json::encode(&other),
    );
    assert_eq!(reply.status, 202, "{}", reply.body);
    socket
        .send_to(
            &jaeger::compact::encode_emit_batch(&sample_trace(0x3)).remove(0),
            server.jaeger_compact,
        )
        .expect("send");
    wait_for(&server, "jaeger compact udp", |c| c.spans_accepted == 1);
    let response = runtime
        .block_on(client.export(otlp::to_request(&sample_trace(0x4))))
        .expect("accepted once the permit is back")
        .into_inner();
    assert_eq!(response.partial_success, None);
    assert_eq!(server.receiver("otlp grpc").spans_accepted, 3);

    for receiver in [
        "zipkin http",
        "otlp http",
        "jaeger http",
        "otlp grpc",
        "jaeger compact udp",
        "jaeger binary udp",
    ] {
        let counters = server.receiver(receiver);
        assert_eq!(counters.requests_throttled, 1, "{receiver}: {counters:?}");
        assert_eq!(counters.requests_refused, 0, "{receiver}: {counters:?}");
    }
    assert_eq!(server.receiver("zipkin http").spans_accepted, 6);
    let metrics = get(server.query, "/metrics").body;
    for receiver in ["zipkin http", "otlp grpc", "jaeger binary udp"] {
        let line =
            format!("threadline_receiver_requests_throttled_total{{receiver=\"{receiver}\"}} 1");
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
}
