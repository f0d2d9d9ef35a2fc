//! Interoperability with a real OTLP peer: the rotel collector (PyPI package `rotel`, binary
//! `rotel-agent`) receives our spans over OTLP/HTTP, protobuf and JSON, and prints what it
//! decoded with `--debug-log traces --debug-log-verbosity detailed`. The test reads that
//! output back and checks ids, parents, names, kinds, attributes, events and status.
//!
//! `scripts/ci` installs rotel into a virtual environment under `target/` and passes the
//! binary's path in `THREADLINE_ROTEL_AGENT`; a plain `cargo test` lists these tests as
//! ignored.

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use threadline::{KeyValue, SpanData, SpanKind, Status, StatusCode, Tracer};
use threadline_export::{Compression, OtlpConfig, OtlpExporter, OtlpProtocol};

const DEADLINE: Duration = Duration::from_secs(30);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A running rotel-agent whose standard output arrives line by line.
struct Rotel {
    child: Child,
    lines: mpsc::Receiver<String>,
    http_port: u16,
}

impl Rotel {
    fn start() -> Rotel {
        let agent = std::env::var("THREADLINE_ROTEL_AGENT")
            .expect("THREADLINE_ROTEL_AGENT names the rotel-agent binary (scripts/ci sets it)");
        let http_port = free_port();
        let grpc_port = free_port();
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
        // Ready when the HTTP port accepts connections.
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", http_port)).is_err() {
            assert!(
                start.elapsed() < DEADLINE,
                "rotel-agent did not open its HTTP port"
            );
            std::thread::yield_now();
        }
        Rotel {
            child,
            lines,
            http_port,
        }
    }

    /// Reads output until a span named `sentinel` appears (sent in a later request, so every
    /// span before it has been printed in full), and returns the spans before it.
    fn spans_before(&self, sentinel: &str) -> Vec<PrintedSpan> {
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

#[derive(Debug, Default)]
struct PrintedSpan {
    trace_id: String,
    parent_id: String,
    id: String,
    name: String,
    kind: String,
    lines: Vec<String>,
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
    let exporter = OtlpExporter::new(OtlpConfig {
        endpoint: format!("http://127.0.0.1:{}/v1/traces", rotel.http_port),
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
