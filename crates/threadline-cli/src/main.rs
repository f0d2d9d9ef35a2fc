//! The `threadline` command. `threadline serve` (the default) runs the all-in-one server;
//! `threadline loadgen` sends OTLP load to a server and reports what it accepted.

mod loadgen;

/// Receiving allocates per span (names, keys, values) on every worker thread at once: mimalloc's
/// thread-local heaps avoid glibc's arena lock contention and its page churn.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use threadline_server::store::{DiskOptions, DiskStore, MemoryStore, SpanStore};
use threadline_server::{BoundServer, ServerConfig};

/// Threadline: receive, store and query traces.
#[derive(Parser, Debug)]
#[command(name = "threadline", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the all-in-one server (the default when no command is given).
    Serve(ServeArgs),
    /// Send pre-encoded OTLP/HTTP batches on N connections and report spans/s and latency.
    Loadgen(loadgen::LoadgenArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// How the logs on standard error are written: `text` (one line per event, fields as
    /// key=value) or `json` (one JSON object per line).
    #[arg(long, env = "THREADLINE_LOG_FORMAT", default_value = "text")]
    log_format: LogFormat,
    /// The least level logged: `off`, `error`, `warn`, `info` or `debug`.
    #[arg(long, env = "THREADLINE_LOG", default_value = "info")]
    log_level: tracing_subscriber::filter::LevelFilter,
    /// The address every listener binds.
    #[arg(long, env = "THREADLINE_BIND", default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The Zipkin port: span receiver and Zipkin query API (0 picks a free port).
    #[arg(long, env = "THREADLINE_ZIPKIN_PORT", default_value_t = 9411)]
    zipkin_port: u16,
    /// The OTLP/HTTP receiver port (0 picks a free port).
    #[arg(long, env = "THREADLINE_OTLP_HTTP_PORT", default_value_t = 4318)]
    otlp_http_port: u16,
    /// The OTLP/gRPC receiver port (0 picks a free port).
    #[arg(long, env = "THREADLINE_OTLP_GRPC_PORT", default_value_t = 4317)]
    otlp_grpc_port: u16,
    /// The Jaeger agent UDP port for Thrift compact emitBatch (0 picks a free port).
    #[arg(long, env = "THREADLINE_JAEGER_COMPACT_PORT", default_value_t = 6831)]
    jaeger_compact_port: u16,
    /// The Jaeger agent UDP port for Thrift binary emitBatch (0 picks a free port).
    #[arg(long, env = "THREADLINE_JAEGER_BINARY_PORT", default_value_t = 6832)]
    jaeger_binary_port: u16,
    /// The Jaeger collector HTTP port, POST /api/traces (0 picks a free port).
    #[arg(long, env = "THREADLINE_JAEGER_HTTP_PORT", default_value_t = 14268)]
    jaeger_http_port: u16,
    /// The query API port (0 picks a free port).
    #[arg(long, env = "THREADLINE_QUERY_PORT", default_value_t = 16686)]
    query_port: u16,
    /// Keep spans in memory (bounded by --max-spans, gone at exit) instead of on disk.
    #[arg(long, env = "THREADLINE_MEMORY")]
    memory: bool,
    /// The most spans the in-memory store holds; the oldest traces are evicted past it.
    #[arg(long, env = "THREADLINE_MAX_SPANS", default_value_t = 1_000_000)]
    max_spans: usize,
    /// The directory of the disk store (the default store).
    #[arg(long, env = "THREADLINE_DATA_DIR", default_value = "./threadline-data")]
    data_dir: PathBuf,
    /// How long the disk store keeps spans after they arrive: a number and a unit, d, h, m
    /// or s (7d, 12h, 30m).
    #[arg(long, env = "THREADLINE_RETENTION", default_value = "7d", value_parser = parse_retention)]
    retention: Duration,
    /// The largest request body accepted, in bytes, compressed or once decompressed.
    #[arg(long, env = "THREADLINE_MAX_BODY_BYTES", default_value_t = threadline_server::receive::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
}

fn main() -> anyhow::Result<()> {
    let mut cli = Cli::parse();
    if cli.command.is_none() {
        // no command means `serve` with its defaults (and THREADLINE_* variables)
        cli = Cli::parse_from(std::env::args_os().take(1).chain(["serve".into()]));
    }
    let args = match cli.command {
        Some(Command::Serve(args)) => args,
        Some(Command::Loadgen(args)) => return Ok(loadgen::run(args)?),
        None => anyhow::bail!("no command to run"),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

/// The formats of the server's logs.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// `2026-11-21T14:00:00.000000Z  INFO threadline: message key=value`
    Text,
    /// `{"timestamp":…,"level":"INFO","fields":{"message":…,"key":…},"target":…}`
    Json,
}

/// Structured logs on standard error, for the server and its libraries (`tracing` events).
fn init_logs(format: LogFormat, level: tracing_subscriber::filter::LevelFilter) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false);
    // a second subscriber (never, in this binary) would be a programming error worth no panic
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logs(args.log_format, args.log_level);
    let config = ServerConfig {
        bind: args.bind,
        zipkin_port: args.zipkin_port,
        otlp_http_port: args.otlp_http_port,
        otlp_grpc_port: args.otlp_grpc_port,
        jaeger_compact_port: args.jaeger_compact_port,
        jaeger_binary_port: args.jaeger_binary_port,
        jaeger_http_port: args.jaeger_http_port,
        query_port: args.query_port,
        max_body_bytes: args.max_body_bytes,
        ..ServerConfig::default()
    };
    let store: Arc<dyn SpanStore> = if args.memory {
        tracing::info!(max_spans = args.max_spans, "store: memory");
        Arc::new(MemoryStore::new(args.max_spans))
    } else {
        let options = DiskOptions {
            retention: args.retention,
            ..DiskOptions::default()
        };
        let store = DiskStore::open(&args.data_dir, options).with_context(|| {
            format!("cannot open the data directory {}", args.data_dir.display())
        })?;
        tracing::info!(
            data_dir = %args.data_dir.display(),
            retention = %format_retention(args.retention),
            "store: disk"
        );
        Arc::new(store)
    };
    let server = BoundServer::bind(&config, store.clone()).await?;
    for (name, address) in server.addresses() {
        // stdout carries exactly these lines, for scripts that start the server on port 0
        println!("{name} listening on {address}");
        tracing::info!(listener = name, %address, "listening");
    }
    let receivers = server.receiver_stats();
    server.run(shutdown_signal()).await?;
    let counters = store.counters();
    tracing::info!(
        spans_stored = counters.stored,
        spans_evicted = counters.evicted,
        "stopped"
    );
    for (name, stats) in receivers {
        let counters = stats.snapshot();
        tracing::info!(
            receiver = name,
            spans_accepted = counters.spans_accepted,
            spans_rejected = counters.spans_rejected,
            requests_refused = counters.requests_refused,
            requests_throttled = counters.requests_throttled,
            "receiver totals"
        );
    }
    // the last reference: a disk store finishes its writes and closes its files here
    drop(store);
    Ok(())
}

/// Parses a retention period: a positive number and a unit, `d`, `h`, `m` or `s`.
fn parse_retention(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("{text:?} has no unit: expected d, h, m or s, e.g. 7d"))?;
    let (number, unit) = text.split_at(unit_at);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} does not start with a number, e.g. 7d"))?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => {
            return Err(format!(
                "unknown unit {unit:?}: expected d, h, m or s, e.g. 7d"
            ))
        }
    };
    match number.checked_mul(seconds) {
        Some(0) => Err("the retention must be longer than zero".into()),
        Some(total) => Ok(Duration::from_secs(total)),
        None => Err(format!("{text:?} is too long")),
    }
}

/// A retention period in the largest unit that divides it, as `parse_retention` reads it.
fn format_retention(retention: Duration) -> String {
    let seconds = retention.as_secs();
    [(86_400, "d"), (3_600, "h"), (60, "m")]
        .into_iter()
        .find(|(unit, _)| seconds.is_multiple_of(*unit))
        .map(|(unit, name)| format!("{}{name}", seconds / unit))
        .unwrap_or_else(|| format!("{seconds}s"))
}

/// Completes on SIGINT or SIGTERM (Ctrl-C elsewhere).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(error = %error, "cannot listen for sigterm");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_takes_a_number_and_a_unit() {
        assert_eq!(parse_retention("7d"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse_retention("12h"), Ok(Duration::from_secs(12 * 3_600)));
        assert_eq!(parse_retention("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_retention("90s"), Ok(Duration::from_secs(90)));
        for bad in ["7", "d", "7w", "0d", "-1d", "1.5h", ""] {
            assert!(parse_retention(bad).is_err(), "{bad}");
        }
        assert_eq!(format_retention(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_retention(Duration::from_secs(90 * 60)), "90m");
        assert_eq!(format_retention(Duration::from_secs(90)), "90s");
    }
}
