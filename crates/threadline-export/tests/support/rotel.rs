//! The real OTLP peer of the interop tests: a rotel-agent (PyPI package `rotel`) with its HTTP
//! and gRPC receivers on free ports, printing every span it decoded
//! (`--debug-log traces --debug-log-verbosity detailed`), and a parser for that output.
//!
//! Included with `#[path = "support/rotel.rs"] mod rotel;` by the test files that need it, so
//! they do not compile the HTTP fault injector of `support/mod.rs` as dead code.

// Each test file uses a different part.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long rotel gets to start and to print what it received.
pub const DEADLINE: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running rotel-agent whose standard output and error arrive line by line.
pub struct Rotel {
    child: Child,
    lines: mpsc::Receiver<String>,
    pub http_port: u16,
    pub grpc_port: u16,
}

impl Rotel {
    /// Starts the agent named by `THREADLINE_ROTEL_AGENT` and waits until both receivers
    /// accept connections.
    pub fn start() -> Rotel {
        Rotel::start_on(free_port(), free_port())
    }

    /// Like [`Rotel::start`], on ports known in advance (a collector coming back where it was).
    pub fn start_on(http_port: u16, grpc_port: u16) -> Rotel {
        let agent = std::env::var("THREADLINE_ROTEL_AGENT")
            .expect("THREADLINE_ROTEL_AGENT names the rotel-agent binary (scripts/ci sets it)");
        let mut child = Command::new(agent)
            .args([
                "start",
                "--exporter",
                "blackhole",
                "--debug-log",
                "traces",
                "--debug-log-verbosity",
                "detailed",
                "--otlp-http-endpoint",
                &format!("127.0.0.1:{http_port}"),
                "--otlp-grpc-endpoint",
                &format!("127.0.0.1:{grpc_port}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rotel-agent starts");
        let (tx, lines) = mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let start = Instant::now();
        for (port, what) in [(http_port, "HTTP"), (grpc_port, "gRPC")] {
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    start.elapsed() < DEADLINE,
                    "rotel-agent did not open its {what} port"
                );
                std::thread::yield_now();
            }
        }
        Rotel {
            child,
            lines,
            http_port,
            grpc_port,
        }
    }

    /// The OTLP/HTTP traces URL.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1/traces", self.http_port)
    }

    /// The OTLP/gRPC endpoint.
    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// Reads output until a span named `sentinel` appears (sent in a later request, so every
    /// span before it has been printed in full), and returns the spans before it.
    pub fn spans_before(&self, sentinel: &str) -> Vec<PrintedSpan> {
        let mut text = Vec::new();
        let start = Instant::now();
        loop {
            let mut parsed = parse(&text);
            if let Some(i) = parsed.iter().position(|s| s.name == sentinel) {
                parsed.truncate(i);
                return parsed;
            }
            let left = DEADLINE.saturating_sub(start.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => text.push(strip_ansi(&line)),
                Err(_) => panic!(
                    "rotel never printed the sentinel span; it printed:\n{}",
                    text.join("\n")
                ),
            }
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// One span as rotel printed it; `lines` holds everything after the fixed fields.
#[derive(Debug, Default)]
pub struct PrintedSpan {
    pub trace_id: String,
    pub parent_id: String,
    pub id: String,
    pub name: String,
    pub kind: String,
    pub lines: Vec<String>,
}

fn field(line: &str, name: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(name)?;
    let rest = rest.trim_start().strip_prefix(':')?;
    Some(rest.trim().to_string())
}

fn parse(text: &[String]) -> Vec<PrintedSpan> {
    let mut spans: Vec<PrintedSpan> = Vec::new();
    for line in text {
        if line.starts_with("Span #") {
            spans.push(PrintedSpan::default());
            continue;
        }
        if line.starts_with("ResourceSpans #") || line.contains(" INFO ") {
            continue;
        }
        let Some(span) = spans.last_mut() else {
            continue;
        };
        if let Some(v) = field(line, "Trace ID") {
            span.trace_id = v;
        } else if let Some(v) = field(line, "Parent ID") {
            span.parent_id = v;
        } else if let Some(v) = field(line, "ID") {
            span.id = v;
        } else if let Some(v) = field(line, "Name") {
            if span.name.is_empty() {
                span.name = v;
            } else {
                span.lines.push(line.clone());
            }
        } else if let Some(v) = field(line, "Kind") {
            span.kind = v;
        } else {
            span.lines.push(line.trim().to_string());
        }
    }
    spans
}
