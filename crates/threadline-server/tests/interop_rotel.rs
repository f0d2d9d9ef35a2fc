//! The rotel collector relays our exporter's spans to the server: threadline-export sends
//! OTLP/HTTP to rotel, whose own OTLP exporter (HTTP with protobuf, or gRPC; gzip either way)
//! sends them to the server's OTLP/HTTP or OTLP/gRPC receiver; the trace is read back through
//! the Zipkin query API and Jaeger's.
//!
//! `scripts/ci` installs rotel and passes the agent's path in `THREADLINE_ROTEL_AGENT`; a
//! plain `cargo test` lists this test as ignored.

mod common;
#[path = "common/jaeger_query.rs"]
mod jaeger_query;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{check_sample_trace, sample_trace, wait_for_trace, TestServer};
use threadline::Exporter;
use threadline_export::{Compression, OtlpConfig, OtlpExporter, OtlpProtocol};

const DEADLINE: Duration = Duration::from_secs(30);

struct Rotel(Child);

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts rotel-agent forwarding with `protocol` (`http` or `grpc`) to `endpoint`, and
/// waits until its OTLP/HTTP receiver accepts connections; returns it and that port.
fn start_rotel(endpoint: &str, protocol: &str) -> (Rotel, u16) {
    let agent = std::env::var("THREADLINE_ROTEL_AGENT")
        .expect("THREADLINE_ROTEL_AGENT names the rotel-agent binary (scripts/ci sets it)");
    let (http_port, grpc_port) = (free_port(), free_port());
    let rotel = Rotel(
        Command::new(agent)
            .args([
                "start",
                "--exporter",
                "otlp",
                "--otlp-exporter-endpoint",
                endpoint,
                "--otlp-exporter-protocol",
                protocol,
                "--otlp-exporter-compression",
                "gzip",
                "--batch-timeout",
                "50ms",
                "--otlp-http-endpoint",
                &format!("127.0.0.1:{http_port}"),
                "--otlp-grpc-endpoint",
                &format!("127.0.0.1:{grpc_port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rotel-agent starts"),
    );
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", http_port)).is_err() {
        assert!(start.elapsed() < DEADLINE, "rotel did not open its port");
        std::thread::yield_now();
    }
    (rotel, http_port)
}

/// Sends the sample trace to rotel's OTLP/HTTP receiver with our exporter.
fn export_to_rotel(http_port: u16, trace_id: u128) {
    let mut exporter = OtlpExporter::new(OtlpConfig {
        endpoint: format!("http://127.0.0.1:{http_port}/v1/traces"),
        protocol: OtlpProtocol::HttpProtobuf,
        compression: Compression::None,
        ..OtlpConfig::default()
    })
    .expect("exporter");
    exporter
        .export(&sample_trace(trace_id))
        .expect("export to rotel");
}

#[test]
#[ignore = "needs rotel, which scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_relays_our_spans_to_the_otlp_http_receiver() {
    let server = TestServer::start();
    let (_rotel, http_port) = start_rotel(&format!("http://{}", server.otlp_http), "http");
    export_to_rotel(http_port, 0x707);
    // rotel forwards on its own schedule
    let trace = wait_for_trace(&server, &format!("{:032x}", 0x707u128), 3);
    check_sample_trace(&trace, 0x707);

    let (trace, decoded) = jaeger_query::jaeger_trace(server.query, &format!("{:032x}", 0x707u128));
    assert_eq!(decoded.len(), 3);
    jaeger_query::check_sample_trace(&trace, 0x707);
}

#[test]
#[ignore = "needs rotel, which scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_relays_our_spans_to_the_otlp_grpc_receiver() {
    let server = TestServer::start();
    let (_rotel, http_port) = start_rotel(&format!("http://{}", server.otlp_grpc), "grpc");
    export_to_rotel(http_port, 0x708);
    let trace = wait_for_trace(&server, &format!("{:032x}", 0x708u128), 3);
    check_sample_trace(&trace, 0x708);
    let counters = server.receiver("otlp grpc");
    assert_eq!(counters.spans_accepted, 3, "{counters:?}");
    assert_eq!(server.receiver("otlp http").spans_accepted, 0);
}
