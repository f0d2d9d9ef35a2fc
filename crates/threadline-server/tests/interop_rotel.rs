//! The rotel collector relays our exporter's spans to the server: threadline-export sends
//! OTLP/HTTP to rotel, whose own OTLP exporter (HTTP, protobuf, gzip) posts them to the
//! server's OTLP/HTTP receiver; the trace is read back through the Zipkin query API and
//! Jaeger's.
//!
//! `scripts/ci` installs rotel and passes the agent's path in `THREADLINE_ROTEL_AGENT`; a
//! plain `cargo test` lists this test as ignored.

mod common;
#[path = "common/jaeger_query.rs"]
mod jaeger_query;

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{check_sample_trace, get, sample_trace, TestServer};
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

#[test]
#[ignore = "needs rotel, which scripts/ci installs (THREADLINE_ROTEL_AGENT)"]
fn rotel_relays_our_spans_to_the_otlp_http_receiver() {
    let server = TestServer::start();
    let agent = std::env::var("THREADLINE_ROTEL_AGENT")
        .expect("THREADLINE_ROTEL_AGENT names the rotel-agent binary (scripts/ci sets it)");
    let (http_port, grpc_port) = (free_port(), free_port());
    let _rotel = Rotel(
        Command::new(agent)
            .args([
                "start",
                "--exporter",
                "otlp",
                "--otlp-exporter-endpoint",
                &format!("http://{}", server.otlp_http),
                "--otlp-exporter-protocol",
                "http",
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

    let mut exporter = OtlpExporter::new(OtlpConfig {
        endpoint: format!("http://127.0.0.1:{http_port}/v1/traces"),
        protocol: OtlpProtocol::HttpProtobuf,
        compression: Compression::None,
        ..OtlpConfig::default()
    })
    .expect("exporter");
    exporter
        .export(&sample_trace(0x707))
        .expect("export to rotel");

    // rotel forwards on its own schedule: ask the store until the trace is complete or the
    // deadline passes (each round trip is the wait; the pause only spares the CPU)
    let path = format!("/api/v2/trace/{:032x}", 0x707u128);
    let start = Instant::now();
    let trace = loop {
        let reply = get(server.query, &path);
        if reply.status == 200 {
            let trace: serde_json::Value = serde_json::from_str(&reply.body).expect("json");
            if trace.as_array().map(Vec::len) == Some(3) {
                break trace;
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "rotel did not deliver the trace: {} {}",
            reply.status,
            reply.body
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    check_sample_trace(&trace, 0x707);

    let (trace, decoded) = jaeger_query::jaeger_trace(server.query, &format!("{:032x}", 0x707u128));
    assert_eq!(decoded.len(), 3);
    jaeger_query::check_sample_trace(&trace, 0x707);
}
