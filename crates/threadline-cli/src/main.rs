//! The `threadline` command. `threadline serve` (the default) runs the all-in-one server;
//! `threadline loadgen` sends OTLP load to a server and reports what it accepted.

mod loadgen;

/// Receiving allocates per span (names, keys, values) on every worker thread at once: mimalloc's
/// thread-local heaps avoid glibc's arena lock contention and its page churn.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::IpAddr;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use threadline_server::store::{MemoryStore, SpanStore};
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
    /// Keep spans in memory; the only store for now (a persistent store comes next).
    #[arg(long, env = "THREADLINE_MEMORY", default_value_t = true)]
    memory: bool,
    /// The most spans the in-memory store holds; the oldest traces are evicted past it.
    #[arg(long, env = "THREADLINE_MAX_SPANS", default_value_t = 1_000_000)]
    max_spans: usize,
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

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
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
    // --memory is the only store so far: the flag is accepted and always in effect
    let _ = args.memory;
    let store = Arc::new(MemoryStore::new(args.max_spans));
    let server = BoundServer::bind(&config, store.clone()).await?;
    for (name, address) in server.addresses() {
        println!("{name} listening on {address}");
    }
    let receivers = server.receiver_stats();
    server.run(shutdown_signal()).await?;
    let counters = store.counters();
    eprintln!(
        "stopped: {} spans stored, {} evicted",
        counters.stored, counters.evicted
    );
    for (name, stats) in receivers {
        let counters = stats.snapshot();
        eprintln!(
            "{name}: {} spans accepted, {} rejected, {} requests refused, {} throttled",
            counters.spans_accepted,
            counters.spans_rejected,
            counters.requests_refused,
            counters.requests_throttled
        );
    }
    Ok(())
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
                eprintln!("cannot listen for sigterm: {error}");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
