//! The `threadline` binary: listeners on free ports, spans in and out, a clean stop on SIGTERM.

mod support;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use support::{sigterm_and_wait, DEADLINE};

use threadline::{Exporter, Resource, SpanData, SpanId, TraceId};
use threadline_export::{JaegerConfig, JaegerExporter, ZipkinConfig, ZipkinExporter};

struct Listeners {
    zipkin: SocketAddr,
    otlp_http: SocketAddr,
    otlp_grpc: SocketAddr,
    jaeger_compact: SocketAddr,
    jaeger_binary: SocketAddr,
    jaeger_http: SocketAddr,
    query: SocketAddr,
}

/// Reads the seven `<name> listening on <address>` lines.
fn read_listeners(child: &mut Child) -> Listeners {
    let found = support::read_listeners(child);
    Listeners {
        zipkin: found["zipkin http"],
        otlp_http: found["otlp http"],
        otlp_grpc: found["otlp grpc"],
        jaeger_compact: found["jaeger compact udp"],
        jaeger_binary: found["jaeger binary udp"],
        jaeger_http: found["jaeger http"],
        query: found["query http"],
    }
}

fn send_and_read_back(listeners: &Listeners, trace_id: u128) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64;
    let mut span = SpanData::new(TraceId(trace_id), SpanId(1), "cli span");
    span.resource = Arc::new(Resource::new("cli-test"));
    span.start_time_unix_nano = now - 1_000_000;
    span.end_time_unix_nano = now;
    let mut exporter = ZipkinExporter::new(ZipkinConfig {
        endpoint: format!("http://{}/api/v2/spans", listeners.zipkin),
        ..ZipkinConfig::default()
    })
    .expect("exporter");
    exporter.export(&[span]).expect("export");

    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    for address in [listeners.query, listeners.zipkin] {
        let body = agent
            .get(format!("http://{address}/api/v2/trace/{trace_id:032x}"))
            .call()
            .expect("trace")
            .body_mut()
            .read_to_string()
            .expect("body");
        assert!(body.contains(r#""name":"cli span""#), "{body}");
        assert!(body.contains(r#""serviceName":"cli-test""#), "{body}");
    }
    // the OTLP listener answers on its path (an empty request is a complete success)
    let reply = agent
        .post(format!("http://{}/v1/traces", listeners.otlp_http))
        .header("content-type", "application/json")
        .send(&b"{}"[..])
        .expect("otlp")
        .status();
    assert_eq!(reply.as_u16(), 200);
    // the Jaeger collector answers an empty Thrift body, naming the problem
    let reply = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .post(format!("http://{}/api/traces", listeners.jaeger_http))
        .header("content-type", "application/x-thrift")
        .send(&b""[..])
        .expect("jaeger http")
        .status();
    assert_eq!(reply.as_u16(), 400);
    assert!(std::net::TcpStream::connect(listeners.otlp_grpc).is_ok());
    assert_ne!(
        listeners.jaeger_binary.port(),
        listeners.jaeger_compact.port()
    );

    // a span over the Jaeger agent's UDP port arrives on its own schedule: ask until it is
    // there or the deadline passes
    let mut span = SpanData::new(TraceId(trace_id + 1), SpanId(2), "udp span");
    span.resource = Arc::new(Resource::new("cli-udp"));
    span.start_time_unix_nano = now - 1_000_000;
    span.end_time_unix_nano = now;
    let mut exporter = JaegerExporter::new(JaegerConfig {
        agent_host: listeners.jaeger_compact.ip().to_string(),
        agent_port: listeners.jaeger_compact.port(),
        ..JaegerConfig::default()
    })
    .expect("jaeger exporter");
    exporter.export(&[span]).expect("export over udp");
    let start = std::time::Instant::now();
    loop {
        let mut response = agent
            .get(format!(
                "http://{}/api/v2/trace/{:032x}",
                listeners.query,
                trace_id + 1
            ))
            .config()
            .http_status_as_error(false)
            .build()
            .call()
            .expect("trace");
        if response.status() == 200 {
            let body = response.body_mut().read_to_string().expect("body");
            assert!(body.contains(r#""name":"udp span""#), "{body}");
            break;
        }
        assert!(start.elapsed() < DEADLINE, "the udp span never arrived");
        std::thread::yield_now();
    }
}

fn threadline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_threadline"));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for name in [
        "THREADLINE_BIND",
        "THREADLINE_ZIPKIN_PORT",
        "THREADLINE_OTLP_HTTP_PORT",
        "THREADLINE_OTLP_GRPC_PORT",
        "THREADLINE_JAEGER_COMPACT_PORT",
        "THREADLINE_JAEGER_BINARY_PORT",
        "THREADLINE_JAEGER_HTTP_PORT",
        "THREADLINE_QUERY_PORT",
        "THREADLINE_MAX_SPANS",
        "THREADLINE_MEMORY",
        "THREADLINE_DATA_DIR",
        "THREADLINE_RETENTION",
    ] {
        command.env_remove(name);
    }
    command
}

#[test]
fn serve_with_flags_stops_cleanly_on_sigterm() {
    let mut child = threadline()
        .args([
            "serve",
            "--zipkin-port",
            "0",
            "--otlp-http-port",
            "0",
            "--otlp-grpc-port",
            "0",
            "--jaeger-compact-port",
            "0",
            "--jaeger-binary-port",
            "0",
            "--jaeger-http-port",
            "0",
            "--query-port",
            "0",
            "--memory",
            "--max-spans",
            "100",
            "--log-format",
            "json",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn threadline");
    let mut stderr = child.stderr.take().expect("stderr");
    let listeners = read_listeners(&mut child);
    send_and_read_back(&listeners, 0x5e1);
    let status = sigterm_and_wait(child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    // the process has exited, so its stderr is complete
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut text).expect("stderr");
    // one JSON object per line: the store, each listener, the totals
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let fields = |message: &str| -> Vec<&serde_json::Value> {
        events
            .iter()
            .filter(|e| e["fields"]["message"] == message)
            .map(|e| &e["fields"])
            .collect()
    };
    assert_eq!(fields("store: memory")[0]["max_spans"], 100, "{text}");
    assert_eq!(fields("listening").len(), 7, "{text}");
    let stopped = fields("stopped");
    assert_eq!(stopped[0]["spans_stored"], 2, "{text}");
    assert_eq!(stopped[0]["spans_evicted"], 0, "{text}");
    let totals: Vec<(String, u64, u64, u64, u64)> = fields("receiver totals")
        .iter()
        .map(|f| {
            let n = |key: &str| f[key].as_u64().unwrap_or_else(|| panic!("{key} in {f}"));
            (
                f["receiver"].as_str().expect("receiver").to_string(),
                n("spans_accepted"),
                n("spans_rejected"),
                n("requests_refused"),
                n("requests_throttled"),
            )
        })
        .collect();
    let expected = [
        ("zipkin http", 1, 0, 0, 0),
        ("otlp http", 0, 0, 0, 0),
        ("otlp grpc", 0, 0, 0, 0),
        ("jaeger compact udp", 1, 0, 0, 0),
        ("jaeger binary udp", 0, 0, 0, 0),
        ("jaeger http", 0, 0, 1, 0),
    ]
    .map(|(name, a, b, c, d)| (name.to_string(), a, b, c, d));
    assert_eq!(totals, expected, "{text}");
    assert!(
        events
            .iter()
            .all(|e| e["level"] == "INFO" && e["timestamp"].is_string()),
        "{text}"
    );
}

#[test]
fn no_command_serves_with_settings_from_the_environment() {
    let data = tempfile::tempdir().expect("temporary directory");
    let mut child = threadline()
        .env("THREADLINE_DATA_DIR", data.path())
        .env("THREADLINE_RETENTION", "12h")
        .env("THREADLINE_ZIPKIN_PORT", "0")
        .env("THREADLINE_OTLP_HTTP_PORT", "0")
        .env("THREADLINE_OTLP_GRPC_PORT", "0")
        .env("THREADLINE_JAEGER_COMPACT_PORT", "0")
        .env("THREADLINE_JAEGER_BINARY_PORT", "0")
        .env("THREADLINE_JAEGER_HTTP_PORT", "0")
        .env("THREADLINE_QUERY_PORT", "0")
        .env("THREADLINE_BIND", "127.0.0.1")
        .spawn()
        .expect("spawn threadline");
    let listeners = read_listeners(&mut child);
    assert!(listeners.zipkin.ip().is_loopback());
    send_and_read_back(&listeners, 0x5e2);
    let status = sigterm_and_wait(child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    // the disk store is the default, in the directory given
    assert!(
        std::fs::read_dir(data.path())
            .expect("data directory")
            .count()
            > 0,
        "nothing written to the data directory"
    );
}

#[test]
fn a_bad_flag_value_is_named() {
    let output = threadline()
        .args(["serve", "--zipkin-port", "http"])
        .stderr(Stdio::piped())
        .output()
        .expect("run threadline");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--zipkin-port"), "{stderr}");
}
