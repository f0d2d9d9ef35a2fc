//! An in-process server on free ports, a blocking HTTP client and a sample trace.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use threadline::{Annotation, KeyValue, Resource, SpanData, SpanId, SpanKind, TraceId};
use threadline_server::receive::{ReceiverCounters, ReceiverStats};
use threadline_server::store::{MemoryStore, SpanStore};
use threadline_server::{BoundServer, ServerConfig};
use tokio::sync::oneshot;

/// A running server; dropping it shuts it down and waits for it.
pub struct TestServer {
    pub zipkin: SocketAddr,
    pub otlp_http: SocketAddr,
    pub otlp_grpc: SocketAddr,
    pub jaeger_compact: SocketAddr,
    pub jaeger_binary: SocketAddr,
    pub jaeger_http: SocketAddr,
    pub query: SocketAddr,
    pub store: Arc<MemoryStore>,
    receivers: Vec<(&'static str, Arc<ReceiverStats>)>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start() -> Self {
        Self::with_limit(threadline_server::receive::DEFAULT_MAX_BODY_BYTES)
    }

    pub fn with_limit(max_body_bytes: usize) -> Self {
        let config = ServerConfig {
            max_body_bytes,
            ..ServerConfig::any_port()
        };
        let store = Arc::new(MemoryStore::new(10_000));
        Self::with_store(config, store.clone(), store)
    }

    /// A server on `config` (ports 0) appending to `server_store`; `store` is the memory
    /// store tests may look at (it may be inside `server_store`, or unused).
    pub fn with_store(
        config: ServerConfig,
        server_store: Arc<dyn SpanStore>,
        store: Arc<MemoryStore>,
    ) -> Self {
        let (addresses_tx, addresses_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let server = BoundServer::bind(&config, server_store)
                    .await
                    .expect("bind");
                addresses_tx
                    .send((server.addresses(), server.receiver_stats()))
                    .expect("send addresses");
                server
                    .run(async move {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("run");
            });
        });
        let (addresses, receivers) = addresses_rx.recv().expect("server started");
        let find = |name: &str| {
            addresses
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| *a)
                .expect(name)
        };
        TestServer {
            zipkin: find("zipkin http"),
            otlp_http: find("otlp http"),
            otlp_grpc: find("otlp grpc"),
            jaeger_compact: find("jaeger compact udp"),
            jaeger_binary: find("jaeger binary udp"),
            jaeger_http: find("jaeger http"),
            query: find("query http"),
            store,
            receivers,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl TestServer {
    /// The counters of the receiver `name` (`zipkin http`, `otlp http`, `otlp grpc`,
    /// `jaeger compact udp`, `jaeger binary udp`, `jaeger http`).
    pub fn receiver(&self, name: &str) -> ReceiverCounters {
        self.receivers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, stats)| stats.snapshot())
            .expect(name)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let joined = thread.join();
            if !std::thread::panicking() {
                joined.expect("server thread");
            }
        }
    }
}

/// A status and a body.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub retry_after: Option<String>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn reply(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = response.expect("http request");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let bytes = response.body_mut().read_to_vec().expect("body");
    Reply {
        status: response.status().as_u16(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
        bytes,
        content_type,
        retry_after,
    }
}

pub fn get(address: SocketAddr, path_and_query: &str) -> Reply {
    reply(
        agent()
            .get(format!("http://{address}{path_and_query}"))
            .call(),
    )
}

pub fn post(address: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = agent().post(format!("http://{address}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    reply(request.send(body))
}

/// Reads a trace through the Zipkin query API until it has `spans` spans or the deadline
/// passes (spans sent over UDP or through a relay arrive on their own schedule).
pub fn wait_for_trace(server: &TestServer, trace_id: &str, spans: usize) -> serde_json::Value {
    let path = format!("/api/v2/trace/{trace_id}");
    let start = std::time::Instant::now();
    loop {
        let reply = get(server.query, &path);
        if reply.status == 200 {
            let trace: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
            if trace.as_array().map(Vec::len) == Some(spans) {
                return trace;
            }
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "trace {trace_id} did not arrive whole: {} {}",
            reply.status,
            reply.body
        );
        // each round trip is the wait; the pause only spares the CPU
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

pub fn get_json(address: SocketAddr, path_and_query: &str) -> serde_json::Value {
    let reply = get(address, path_and_query);
    assert_eq!(reply.status, 200, "{path_and_query}: {}", reply.body);
    serde_json::from_str(&reply.body).expect("json reply")
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).expect("gzip");
    encoder.finish().expect("gzip")
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

/// A trace of three spans: `frontend` serves `get /checkout` and calls `backend`'s
/// `charge` (annotated `charged`), which queries its database in `select`.
pub fn sample_trace(trace_id: u128) -> Vec<SpanData> {
    let start = now_nanos() - 5_000_000;
    let frontend = Arc::new(Resource::new("frontend"));
    let backend = Arc::new(Resource::new("backend"));
    let mut root = SpanData::new(TraceId(trace_id), SpanId(0x10), "get /checkout");
    root.kind = SpanKind::Server;
    root.resource = frontend.clone();
    root.start_time_unix_nano = start;
    root.end_time_unix_nano = start + 4_000_000;
    root.attributes.push(KeyValue::new("http.method", "GET"));
    root.attributes
        .push(KeyValue::new("http.route", "/checkout"));

    let mut charge = SpanData::new(TraceId(trace_id), SpanId(0x20), "charge");
    charge.kind = SpanKind::Server;
    charge.parent_span_id = Some(SpanId(0x10));
    charge.resource = backend.clone();
    charge.start_time_unix_nano = start + 1_000_000;
    charge.end_time_unix_nano = start + 3_000_000;
    charge
        .attributes
        .push(KeyValue::new("payment.provider", "acme"));
    charge.annotations.push(Annotation {
        time_unix_nano: start + 2_500_000,
        description: "charged".into(),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    });

    let mut select = SpanData::new(TraceId(trace_id), SpanId(0x30), "select");
    select.kind = SpanKind::Client;
    select.parent_span_id = Some(SpanId(0x20));
    select.resource = backend;
    select.start_time_unix_nano = start + 1_500_000;
    select.end_time_unix_nano = start + 2_000_000;
    select
        .attributes
        .push(KeyValue::new("db.system", "postgresql"));
    vec![root, charge, select]
}

/// Checks a Zipkin JSON trace read back against [`sample_trace`].
pub fn check_sample_trace(trace: &serde_json::Value, trace_id: u128) {
    let spans = trace.as_array().expect("a span array");
    assert_eq!(spans.len(), 3, "{trace}");
    let by_name = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no span {name} in {trace}"))
    };
    let root = by_name("get /checkout");
    let charge = by_name("charge");
    let select = by_name("select");
    for span in spans {
        assert_eq!(span["traceId"], format!("{trace_id:032x}"));
    }
    assert_eq!(root["id"], "0000000000000010");
    assert!(root.get("parentId").is_none(), "{root}");
    assert_eq!(charge["parentId"], "0000000000000010");
    assert_eq!(select["parentId"], "0000000000000020");
    assert_eq!(root["localEndpoint"]["serviceName"], "frontend");
    assert_eq!(charge["localEndpoint"]["serviceName"], "backend");
    assert_eq!(root["kind"], "SERVER");
    assert_eq!(select["kind"], "CLIENT");
    assert_eq!(root["tags"]["http.method"], "GET");
    assert_eq!(charge["tags"]["payment.provider"], "acme");
    assert_eq!(select["tags"]["db.system"], "postgresql");
    assert_eq!(charge["annotations"][0]["value"], "charged", "{charge}");
    assert_eq!(
        charge["annotations"][0]["timestamp"].as_u64(),
        charge["timestamp"].as_u64().map(|t| t + 1_500),
        "{charge}"
    );
    assert!(root.get("annotations").is_none(), "{root}");
}

/// Runs a Python program with the peers' interpreter (`THREADLINE_PEERS_PYTHON`, which
/// scripts/ci sets) and `args`; its standard output, once it exited successfully.
pub fn run_python(program: &str, args: &[&str]) -> String {
    let python = std::env::var("THREADLINE_PEERS_PYTHON")
        .expect("THREADLINE_PEERS_PYTHON names the peers' python (scripts/ci sets it)");
    let out = Command::new(python)
        .arg("-c")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the peers' python starts");
    assert!(
        out.status.success(),
        "the peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}
