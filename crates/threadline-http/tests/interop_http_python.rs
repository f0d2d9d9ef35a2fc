//! Our HTTP examples against the OpenTelemetry Python SDK, over real HTTP on 127.0.0.1, in
//! W3C Trace Context, B3 single-header and B3 multi-header propagation:
//!
//! - our `http_client` example calls a Python server: the Python SERVER span continues our
//!   trace, its parent our CLIENT span;
//! - a Python client calls our `http_server` example: our SERVER span continues the Python
//!   trace, its parent the Python CLIENT span, and SIGTERM makes our server flush its spans
//!   and exit 0.
//!
//! The peer is `scripts/peers/http_peer.py`, run with the Python of `THREADLINE_PEERS_PYTHON`
//! (`scripts/ci` installs opentelemetry-sdk and opentelemetry-propagator-b3 into it). The
//! example binaries come from `THREADLINE_HTTP_SERVER` and `THREADLINE_HTTP_CLIENT`, built
//! with `cargo build -p threadline-http --examples --features axum,reqwest` (relative paths
//! are taken from the workspace root). A plain
//! `cargo test` lists these tests as ignored.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

/// A path from the environment; a relative one is taken from the workspace root.
fn env_path(name: &str) -> PathBuf {
    let path = PathBuf::from(std::env::var_os(name).unwrap_or_else(|| {
        panic!("{name} is not set (see the header of tests/interop_http_python.rs)")
    }));
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    assert!(path.exists(), "{name}={} does not exist", path.display());
    path
}

fn python() -> PathBuf {
    env_path("THREADLINE_PEERS_PYTHON")
}

fn peer_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/peers/http_peer.py")
}

/// Lines of a child's stdout, as they come.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Everything a child writes on stderr, once it closes it.
fn stderr_of(child: &mut Child) -> Receiver<String> {
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    rx
}

/// Waits for the `listening on ADDR` line and returns the address.
fn listening_address(lines: &Receiver<String>, who: &str) -> SocketAddr {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("{who} printed no \"listening on\" line: {e}"));
        if let Some(addr) = line.strip_prefix("listening on ") {
            return addr.trim().parse().expect("a socket address");
        }
    }
}

/// Waits until `addr` accepts a connection.
fn wait_for_port(addr: SocketAddr) {
    let deadline = Instant::now() + DEADLINE;
    while TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{addr} never accepted a connection"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a child to exit, with a deadline; kills it when the deadline passes.
fn wait_exit(mut child: Child, who: &str) -> ExitStatus {
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(status) => status.expect("wait"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
            panic!("{who} did not exit within {DEADLINE:?}");
        }
    }
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn only<'a>(spans: &'a [Value], kind: &str, who: &str) -> &'a Value {
    let found: Vec<_> = spans.iter().filter(|s| s["kind"] == kind).collect();
    assert_eq!(
        found.len(),
        1,
        "one {kind} span expected from {who}: {spans:#?}"
    );
    found[0]
}

fn spans_file(case: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "threadline-http-interop-{}-{case}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&path);
    path
}

/// Our `http_client` example calls the Python server.
fn our_client_to_python_server(propagators: &str) {
    let mut server = Command::new(python())
        .arg(peer_script())
        .arg("serve")
        .env("OTEL_PROPAGATORS", propagators)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python server");
    let server_lines = lines_of(&mut server);
    let server_stderr = stderr_of(&mut server);
    let addr = listening_address(&server_lines, "the Python server");
    wait_for_port(addr);

    let spans_path = spans_file(&format!("client-{propagators}"));
    let client = Command::new(env_path("THREADLINE_HTTP_CLIENT"))
        .arg(format!("http://{addr}/hello"))
        .env("OTEL_PROPAGATORS", propagators)
        .env("OTEL_TRACES_EXPORTER", "file")
        .env("THREADLINE_FILE_PATH", &spans_path)
        .stdout(Stdio::null())
        .spawn()
        .expect("start http_client");
    let client_status = wait_exit(client, "http_client");
    let server_status = wait_exit(server, "the Python server");
    let server_spans: Vec<Value> = server_lines
        .try_iter()
        .flat_map(|l| json_lines(&l))
        .collect();
    let stderr = server_stderr.recv_timeout(DEADLINE).unwrap_or_default();
    assert!(
        client_status.success(),
        "{propagators}: http_client {client_status}"
    );
    assert!(
        server_status.success(),
        "{propagators}: Python server {server_status}: {stderr}"
    );

    let ours = json_lines(&std::fs::read_to_string(&spans_path).expect("our spans file"));
    let _ = std::fs::remove_file(&spans_path);
    let root = ours
        .iter()
        .find(|s| s["name"] == "http_client")
        .expect("root span");
    let out = only(&ours, "client", "http_client");
    assert_eq!(out["parent_span_id"], root["span_id"], "{propagators}");
    let inbound = only(&server_spans, "server", "the Python server");
    assert_eq!(inbound["name"], "GET /hello");
    assert_eq!(
        inbound["trace_id"], out["trace_id"],
        "{propagators}: same trace"
    );
    assert_eq!(
        inbound["parent_span_id"], out["span_id"],
        "{propagators}: our CLIENT span is the parent"
    );
    assert_eq!(inbound["parent_is_remote"], true, "{propagators}");
}

/// The Python client calls our `http_server` example, which is then stopped with SIGTERM.
fn python_client_to_our_server(propagators: &str) {
    let spans_path = spans_file(&format!("server-{propagators}"));
    let mut server = Command::new(env_path("THREADLINE_HTTP_SERVER"))
        .args(["--port", "0"])
        .env("OTEL_PROPAGATORS", propagators)
        .env("OTEL_TRACES_EXPORTER", "file")
        .env("THREADLINE_FILE_PATH", &spans_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start http_server");
    let server_lines = lines_of(&mut server);
    let server_stderr = stderr_of(&mut server);
    let addr = listening_address(&server_lines, "http_server");
    wait_for_port(addr);

    let client = Command::new(python())
        .arg(peer_script())
        .args(["get", &format!("http://{addr}/work/3")])
        .env("OTEL_PROPAGATORS", propagators)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the Python client");
    let output = {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(client.wait_with_output());
        });
        rx.recv_timeout(DEADLINE)
            .expect("the Python client finishes")
            .expect("the Python client's output")
    };
    let peer_stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{propagators}: Python client {}: {peer_stderr}",
        output.status
    );

    let pid = server.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let server_status = wait_exit(server, "http_server");
    let stderr = server_stderr.recv_timeout(DEADLINE).unwrap_or_default();
    assert_eq!(
        server_status.code(),
        Some(0),
        "{propagators}: http_server after SIGTERM: {stderr}"
    );

    let peer_spans = json_lines(&String::from_utf8_lossy(&output.stdout));
    let out = only(&peer_spans, "client", "the Python client");
    let peer_root = peer_spans
        .iter()
        .find(|s| s["name"] == "peer-root")
        .expect("root span");
    assert_eq!(out["parent_span_id"], peer_root["span_id"]);

    let ours = json_lines(&std::fs::read_to_string(&spans_path).expect("our spans file"));
    let _ = std::fs::remove_file(&spans_path);
    let inbound = only(&ours, "server", "http_server");
    assert_eq!(inbound["name"], "GET /work/{n}", "{propagators}");
    assert_eq!(
        inbound["trace_id"], out["trace_id"],
        "{propagators}: same trace"
    );
    assert_eq!(
        inbound["parent_span_id"], out["span_id"],
        "{propagators}: the Python CLIENT span is the parent"
    );
    assert_eq!(inbound["attributes"]["http.route"], "/work/{n}");
    assert_eq!(inbound["attributes"]["http.response.status_code"], 200);
    // The handler's child spans were flushed too, and belong to the SERVER span.
    let steps: Vec<_> = ours.iter().filter(|s| s["name"] == "step").collect();
    assert_eq!(steps.len(), 3, "{propagators}: {ours:#?}");
    for step in steps {
        assert_eq!(step["parent_span_id"], inbound["span_id"]);
        assert_eq!(step["trace_id"], inbound["trace_id"]);
    }
}

#[test]
#[ignore = "needs THREADLINE_PEERS_PYTHON, THREADLINE_HTTP_SERVER and THREADLINE_HTTP_CLIENT"]
fn tracecontext_our_client_to_python_server() {
    our_client_to_python_server("tracecontext");
}

#[test]
#[ignore = "needs THREADLINE_PEERS_PYTHON, THREADLINE_HTTP_SERVER and THREADLINE_HTTP_CLIENT"]
fn b3_our_client_to_python_server() {
    our_client_to_python_server("b3");
}

#[test]
#[ignore = "needs THREADLINE_PEERS_PYTHON, THREADLINE_HTTP_SERVER and THREADLINE_HTTP_CLIENT"]
fn b3multi_our_client_to_python_server() {
    our_client_to_python_server("b3multi");
}

#[test]
#[ignore = "needs THREADLINE_PEERS_PYTHON, THREADLINE_HTTP_SERVER and THREADLINE_HTTP_CLIENT"]
fn tracecontext_python_client_to_our_server() {
    python_client_to_our_server("tracecontext");
}

#[test]
#[ignore = "needs THREADLINE_PEERS_PYTHON, THREADLINE_HTTP_SERVER and THREADLINE_HTTP_CLIENT"]
fn b3_python_client_to_our_server() {
    python_client_to_our_server("b3");
}

#[test]
#[ignore = "needs THREADLINE_PEERS_PYTHON, THREADLINE_HTTP_SERVER and THREADLINE_HTTP_CLIENT"]
fn b3multi_python_client_to_our_server() {
    python_client_to_our_server("b3multi");
}
