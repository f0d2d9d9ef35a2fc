//! The disk store keeps every span the server acknowledged: through a SIGKILL in the middle of
//! a stream of requests, and through a plain stop and start.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use threadline::{KeyValue, Resource, SpanData, SpanId, TraceId};
use threadline_wire::otlp::proto;

const DEADLINE: Duration = Duration::from_secs(30);
const SPANS_PER_TRACE: u64 = 10;
const TRACES_PER_BATCH: u64 = 5;

struct Server {
    /// `None` once waited for.
    child: Option<Child>,
    listeners: HashMap<String, SocketAddr>,
}

impl Drop for Server {
    /// A failed assertion must not leave the server running (it holds the test's stderr).
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    /// Starts `threadline serve` on free ports with its disk store in `dir`.
    fn start(dir: &Path) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_threadline"));
        for (name, _) in std::env::vars() {
            if name.starts_with("THREADLINE_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(["serve", "--zipkin-port", "0", "--otlp-http-port", "0"])
            .args(["--query-port", "0", "--data-dir"])
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn threadline");
        let stdout = child.stdout.take().expect("stdout");
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listeners = HashMap::new();
        while listeners.len() < 3 {
            let line = lines_rx
                .recv_timeout(DEADLINE)
                .expect("a listener line before the deadline");
            let (name, address) = line.split_once(" listening on ").expect("listener line");
            listeners.insert(name.to_string(), address.parse().expect("address"));
        }
        Server {
            child: Some(child),
            listeners,
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    fn otlp(&self) -> SocketAddr {
        self.listeners["otlp http"]
    }

    fn query(&self) -> SocketAddr {
        self.listeners["query http"]
    }

    fn wait(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("a running server");
        let (status_tx, status_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = status_tx.send(child.wait());
        });
        status_rx
            .recv_timeout(DEADLINE)
            .expect("exit before the deadline")
            .expect("wait")
    }

    fn sigterm(self) -> ExitStatus {
        let killed = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        self.wait()
    }

    fn sigkill(mut self) -> ExitStatus {
        // Child::kill sends SIGKILL
        self.child
            .as_mut()
            .expect("a running server")
            .kill()
            .expect("kill -9");
        self.wait()
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
