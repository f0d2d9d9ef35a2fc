//! Starting the `threadline` binary in tests and talking to it.

#![allow(dead_code)] // each test binary uses part of this

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a test waits for the server to start or stop.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Every listener `threadline serve` starts.
pub const LISTENERS: &[&str] = &[
    "zipkin http",
    "otlp http",
    "otlp grpc",
    "jaeger http",
    "jaeger compact udp",
    "jaeger binary udp",
    "query http",
];

/// The flags that put every listener on a free port.
pub const FREE_PORTS: &[&str] = &[
    "--zipkin-port",
    "0",
    "--otlp-http-port",
    "0",
    "--otlp-grpc-port",
    "0",
    "--jaeger-http-port",
    "0",
    "--jaeger-compact-port",
    "0",
    "--jaeger-binary-port",
    "0",
    "--query-port",
    "0",
];

/// A running `threadline serve`, killed when dropped.
pub struct ServerProcess {
    child: Option<Child>,
    listeners: HashMap<String, SocketAddr>,
    /// The disk store's directory, removed after the server.
    data_dir: Option<tempfile::TempDir>,
}

impl ServerProcess {
    /// Starts `threadline serve` with every listener on a free port, then `args`, and waits
    /// until every listener has printed its address. `THREADLINE_*` variables of the test's
    /// environment are not passed on.
    pub fn start(args: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_threadline"));
        for (name, _) in std::env::vars() {
            if name.starts_with("THREADLINE_") {
                command.env_remove(name);
            }
        }
        let mut child = command
            .arg("serve")
            .args(FREE_PORTS)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the threadline binary starts");
        let listeners = read_listeners(&mut child);
        ServerProcess {
            child: Some(child),
            listeners,
            data_dir: None,
        }
    }

    /// Starts `threadline serve` as [`start`](Self::start) does, with the default store (on
    /// disk) in a temporary directory removed when the server is dropped.
    pub fn start_on_disk(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir
            .path()
            .to_str()
            .expect("a utf-8 temporary path")
            .to_string();
        let mut server = Self::start(&[&["--data-dir", &path][..], args].concat());
        server.data_dir = Some(dir);
        server
    }

    /// The address a listener printed.
    pub fn address(&self, listener: &str) -> SocketAddr {
        self.listeners[listener]
    }

    /// Every listener's address, by name.
    pub fn addresses(&self) -> &HashMap<String, SocketAddr> {
        &self.listeners
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(mut self) -> ExitStatus {
        sigterm_and_wait(self.child.take().expect("running"))
    }

    /// Sends SIGKILL (no chance to flush anything) and waits for the exit status.
    pub fn kill_9(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        child.kill().expect("kill -9");
        wait(child)
    }
}

/// Reads a starting server's `<name> listening on <address>` lines from its piped stdout until
/// every one of [`LISTENERS`] has printed its address (not port 0).
pub fn read_listeners(child: &mut Child) -> HashMap<String, SocketAddr> {
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
    while !LISTENERS.iter().all(|name| listeners.contains_key(*name)) {
        let line = lines_rx
            .recv_timeout(DEADLINE)
            .unwrap_or_else(|_| panic!("listeners {LISTENERS:?} before the deadline"));
        let (name, address) = line
            .split_once(" listening on ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        let address: SocketAddr = address.parse().expect("an address");
        assert_ne!(address.port(), 0, "{line}");
        listeners.insert(name.to_string(), address);
    }
    listeners
}

/// Sends SIGTERM to `child` and waits for its exit status, at most [`DEADLINE`].
pub fn sigterm_and_wait(child: Child) -> ExitStatus {
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    wait(child)
}

/// Waits for `child` to exit, at most [`DEADLINE`].
fn wait(mut child: Child) -> ExitStatus {
    let (status_tx, status_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = status_tx.send(child.wait());
    });
    status_rx
        .recv_timeout(DEADLINE)
        .expect("exit before the deadline")
        .expect("wait")
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
        drop(self.data_dir.take());
    }
}

/// GETs a JSON document, panicking with the body on a status other than 200.
pub fn get_json(address: SocketAddr, path_and_query: &str) -> serde_json::Value {
    let url = format!("http://{address}{path_and_query}");
    let mut response = ureq::get(&url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let text = response
        .body_mut()
        .read_to_string()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: not JSON: {e}: {text}"))
}

/// A counter of `/metrics` on the query port, e.g. `threadline_receiver_spans_accepted_total`
/// with `receiver="jaeger compact udp"`.
pub fn counter(query: SocketAddr, name: &str, receiver: &str) -> u64 {
    let url = format!("http://{query}/metrics");
    let text = ureq::get(&url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .body_mut()
        .read_to_string()
        .expect("metrics text");
    let series = format!("{name}{{receiver=\"{receiver}\"}} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Waits until `receiver` has accepted at least `spans` spans: a datagram has no answer to
/// wait for, so the server's own counter is the signal. Panics past [`DEADLINE`].
pub fn wait_for_accepted(query: SocketAddr, receiver: &str, spans: u64) {
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let accepted = counter(query, "threadline_receiver_spans_accepted_total", receiver);
        if accepted >= spans {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{receiver} accepted {accepted} of {spans} spans before the deadline"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
