//! `threadline loadgen` against the real `threadline serve`: every batch acknowledged, and the
//! server's own counters agree with what the load generator reports.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use support::ServerProcess;

fn threadline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_threadline"));
    command.stdin(Stdio::null()).stderr(Stdio::inherit());
    for (name, _) in std::env::vars() {
        if name.starts_with("THREADLINE_") {
            command.env_remove(name);
        }
    }
    command
}

/// Starts `threadline serve` (in memory) on free ports.
fn serve() -> (ServerProcess, HashMap<String, SocketAddr>) {
    let server = ServerProcess::start(&["--memory"]);
    let listeners = server.addresses().clone();
    (server, listeners)
}

fn loadgen(args: &[&str]) -> std::process::Output {
    threadline()
        .arg("loadgen")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run threadline loadgen")
}

fn get(url: String) -> String {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    agent
        .get(&url)
        .call()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .body_mut()
        .read_to_string()
        .expect("body")
}

fn metric(query: SocketAddr, line_start: &str) -> u64 {
    let text = get(format!("http://{query}/metrics"));
    text.lines()
        .find_map(|line| line.strip_prefix(line_start))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in\n{text}"))
}

fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64
}

#[test]
fn every_batch_is_acknowledged_and_counted_by_the_server() {
    let (_server, listeners) = serve();
    let started = unix_micros();
    let endpoint = format!("http://{}/v1/traces", listeners["otlp http"]);
    let output = loadgen(&[
        "--endpoint",
        &endpoint,
        "--batches",
        "20",
        "--connections",
        "2",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "one JSON line: {stdout}");
    let report: serde_json::Value = serde_json::from_str(lines[0]).expect("json");
    assert_eq!(report["spans_accepted"], 20 * 512, "{report}");
    assert_eq!(report["spans_sent"], 20 * 512, "{report}");
    assert_eq!(report["requests_ok"], 20, "{report}");
    assert_eq!(report["requests_failed"], 0, "{report}");
    assert_eq!(report["requests_throttled"], 0, "{report}");
    assert_eq!(report["spans_rejected"], 0, "{report}");
    assert_eq!(report["connections"], 2, "{report}");
    assert!(report["latency_us"]["p99"].as_f64().expect("p99") > 0.0);

    let query = listeners["query http"];
    assert_eq!(
        metric(
            query,
            "threadline_receiver_spans_accepted_total{receiver=\"otlp http\"}"
        ),
        20 * 512
    );
    // unique ids: the store kept every span as its own
    assert_eq!(
        metric(query, "threadline_store_spans_stored_total"),
        20 * 512
    );
    assert_eq!(
        metric(
            query,
            "threadline_receiver_requests_refused_total{receiver=\"otlp http\"}"
        ),
        0
    );

    // the spans are recent, so a time-bounded query finds them, as whole traces of 8 spans
    // across services with a distinct request id each
    let traces: Vec<Vec<serde_json::Value>> = serde_json::from_str(&get(format!(
        "http://{query}/api/v2/traces?serviceName=loadgen-service-0&lookback=600000&limit=10000"
    )))
    .expect("traces json");
    assert!(!traces.is_empty());
    let finished = unix_micros();
    let mut request_ids = std::collections::HashSet::new();
    for trace in &traces {
        assert_eq!(trace.len(), 8, "{trace:?}");
        let services: std::collections::HashSet<_> = trace
            .iter()
            .map(|s| s["localEndpoint"]["serviceName"].as_str().expect("service"))
            .collect();
        assert!(services.len() > 1, "{services:?}");
        for span in trace {
            let timestamp = span["timestamp"].as_u64().expect("timestamp");
            assert!(
                timestamp + 1_000_000 >= started && timestamp <= finished,
                "{span}"
            );
            let request_id = span["tags"]["request.id"].as_str().expect("request.id");
            assert_eq!(request_id.len(), 16);
            assert!(request_ids.insert(request_id.to_string()), "{request_id}");
        }
    }
}

#[test]
fn a_timed_run_reports_what_the_server_counted() {
    let (_server, listeners) = serve();
    let endpoint = format!("http://{}/v1/traces", listeners["otlp http"]);
    let output = loadgen(&[
        "--endpoint",
        &endpoint,
        "--duration",
        "300ms",
        "--warmup",
        "100ms",
        "--connections",
        "3",
        "--spans-per-batch",
        "100",
        "--attributes",
        "4",
        "--json",
    ]);
    assert!(output.status.success(), "{output:?}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let requests = report["requests_ok"].as_u64().expect("requests_ok");
    assert!(requests > 0, "{report}");
    assert_eq!(
        report["spans_accepted"].as_u64(),
        Some(requests * 100),
        "{report}"
    );
    assert_eq!(report["requests_failed"], 0, "{report}");
    assert_eq!(report["measured_s"], 0.3, "{report}");
    assert_eq!(report["warmup_s"], 0.1, "{report}");
    // what was measured is part of what was sent
    let measured = report["measured_spans_accepted"]
        .as_u64()
        .expect("measured");
    assert!(measured <= requests * 100, "{report}");
    let query = listeners["query http"];
    assert_eq!(
        metric(
            query,
            "threadline_receiver_spans_accepted_total{receiver=\"otlp http\"}"
        ),
        requests * 100
    );
    assert_eq!(
        metric(query, "threadline_store_spans_stored_total"),
        requests * 100
    );
}

#[test]
fn a_server_that_is_not_there_fails_the_run_and_says_why() {
    // a port that was free a moment ago: nothing listens on it
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}/v1/traces");
    let output = loadgen(&[
        "--endpoint",
        &endpoint,
        "--batches",
        "3",
        "--connections",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("3 failed"), "{stdout}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no request was acknowledged"), "{stderr}");
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

#[test]
fn bad_flags_are_named() {
    let output = loadgen(&["--duration", "10 parsecs"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--duration"));
    let output = loadgen(&["--duration", "1s", "--batches", "3"]);
    assert_eq!(output.status.code(), Some(2));
    let output = loadgen(&[
        "--endpoint",
        "https://127.0.0.1:4318/v1/traces",
        "--batches",
        "1",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("https is not supported"));
}
