//! The quickstart example, unchanged, sends its trace to a real rotel collector through the
//! environment alone (`OTEL_TRACES_EXPORTER=otlp`, `OTEL_EXPORTER_OTLP_PROTOCOL`,
//! `OTEL_EXPORTER_OTLP_ENDPOINT`): over http/protobuf and, with the `grpc` feature, over grpc.
//! Rotel must print 11 spans of one trace, ten `doWork` children of `main`.
//!
//! Needs the built example, its path in `THREADLINE_QUICKSTART` (relative paths are taken from
//! the workspace root), built with gRPC for the grpc case:
//!
//! ```text
//! cargo build --example quickstart --features threadline-export/grpc
//! THREADLINE_QUICKSTART=target/debug/examples/quickstart \
//!   cargo test -p threadline-export --features grpc --test quickstart_otlp -- --include-ignored
//! ```
//!
//! and `THREADLINE_ROTEL_AGENT`, as for `interop_rotel`.

#[path = "support/rotel.rs"]
mod rotel;

use std::path::{Path, PathBuf};
use std::process::Command;

use rotel::{PrintedSpan, Rotel, DEADLINE};
use threadline::{Exporter, SpanData, SpanId, TraceId};
use threadline_export::{OtlpConfig, OtlpExporter, OtlpProtocol};

fn quickstart() -> PathBuf {
    let path = PathBuf::from(std::env::var("THREADLINE_QUICKSTART").expect(
        "THREADLINE_QUICKSTART names the built quickstart example (cargo build --example quickstart)",
    ));
    if path.is_absolute() {
        return path;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.join(path)
}

/// Runs the quickstart against rotel with `protocol`, then sends a sentinel span the same way
/// (so everything the quickstart sent has been printed once it shows), and returns the
/// quickstart's spans as rotel printed them.
fn run_quickstart(protocol: OtlpProtocol) -> Vec<PrintedSpan> {
    let rotel = Rotel::start();
    let (name, endpoint) = match protocol {
        OtlpProtocol::HttpProtobuf => (
            "http/protobuf",
            format!("http://127.0.0.1:{}", rotel.http_port),
        ),
        OtlpProtocol::Grpc => ("grpc", rotel.grpc_url()),
        OtlpProtocol::HttpJson => unreachable!("not exercised here"),
    };
    let binary = quickstart();
    let output = Command::new(&binary)
        .env("OTEL_TRACES_EXPORTER", "otlp")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", name)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .env("OTEL_SERVICE_NAME", "quickstart")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .env_remove("THREADLINE_LOG")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", binary.display()));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "quickstart failed:\n{stderr}");
    // A quickstart built without the grpc feature says so here, and sends nothing to rotel.
    assert!(
        !stderr.contains("warning"),
        "quickstart warned (built without `--features threadline-export/grpc`?):\n{stderr}"
    );

    let sentinel = SpanData::new(TraceId(u128::MAX), SpanId(u64::MAX), "sentinel");
    let sentinel_endpoint = match protocol {
        OtlpProtocol::Grpc => endpoint,
        OtlpProtocol::HttpProtobuf | OtlpProtocol::HttpJson => rotel.http_url(),
    };
    OtlpExporter::new(OtlpConfig {
        endpoint: sentinel_endpoint,
        protocol,
        timeout: DEADLINE,
        ..OtlpConfig::default()
    })
    .expect("sentinel exporter")
    .export(&[sentinel])
    .expect("sentinel delivered");
    rotel.spans_before("sentinel")
}

fn check_quickstart_trace(printed: &[PrintedSpan]) {
    assert_eq!(printed.len(), 11, "{printed:#?}");
    let mut traces: Vec<&str> = printed.iter().map(|s| s.trace_id.as_str()).collect();
    traces.dedup();
    assert_eq!(traces.len(), 1, "{traces:?}");
    assert_eq!(traces[0].len(), 32, "{traces:?}");
    let mains: Vec<&PrintedSpan> = printed.iter().filter(|s| s.name == "main").collect();
    assert_eq!(mains.len(), 1, "{printed:#?}");
    let main = mains[0];
    assert!(main.parent_id.is_empty(), "main has a parent: {main:?}");
    assert_eq!(main.id.len(), 16, "{main:?}");
    let work: Vec<&PrintedSpan> = printed.iter().filter(|s| s.name == "doWork").collect();
    assert_eq!(work.len(), 10, "{printed:#?}");
    for span in work {
        assert_eq!(span.parent_id, main.id, "{span:?}");
        assert_ne!(span.id, main.id, "{span:?}");
    }
    let mut ids: Vec<&str> = printed.iter().map(|s| s.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 11, "span ids repeat: {ids:?}");
}

#[test]
#[ignore = "needs THREADLINE_QUICKSTART (the built example) and THREADLINE_ROTEL_AGENT"]
fn quickstart_over_otlp_http_protobuf() {
    check_quickstart_trace(&run_quickstart(OtlpProtocol::HttpProtobuf));
}

#[cfg(feature = "grpc")]
#[test]
#[ignore = "needs THREADLINE_QUICKSTART (the example built with threadline-export/grpc) and THREADLINE_ROTEL_AGENT"]
fn quickstart_over_otlp_grpc() {
    check_quickstart_trace(&run_quickstart(OtlpProtocol::Grpc));
}
