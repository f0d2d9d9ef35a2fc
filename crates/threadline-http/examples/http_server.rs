//! A traced axum server: every request gets a SERVER span (its parent extracted with
//! `OTEL_PROPAGATORS`), and `/work/{n}` does `n` steps of traced work in child spans.
//!
//! ```text
//! OTEL_TRACES_EXPORTER=console cargo run -p threadline-http --features axum --example http_server -- --port 8080
//! ```
//!
//! Prints `listening on ADDR` once bound (`--port 0` picks a free port), and on SIGINT or
//! SIGTERM stops accepting, flushes its spans and exits 0.

use std::time::Duration;

use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use threadline_http::server::TraceLayer;

async fn index() -> &'static str {
    "threadline http_server\n"
}

/// `n` steps, each in its own child span, with an await inside each.
async fn work(Path(n): Path<u32>) -> Result<String, StatusCode> {
    if n > 100 {
        return Err(StatusCode::BAD_REQUEST);
    }
    let mut total: u64 = 0;
    for step in 0..n {
        {
            let span = threadline::span("step");
            span.add_attribute("step", i64::from(step));
            total += u64::from(step) * u64::from(step);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    threadline::add_attribute_to_current_span("work.steps", i64::from(n));
    Ok(format!("{total}\n"))
}

async fn fail() -> (StatusCode, &'static str) {
    (StatusCode::INTERNAL_SERVER_ERROR, "failing on purpose\n")
}

fn port_from_args() -> Result<u16, String> {
    let mut args = std::env::args().skip(1);
    let mut port = 8080;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--port" => {
                let value = args.next().ok_or("--port needs a value")?;
                port = value
                    .parse()
                    .map_err(|e| format!("invalid port {value:?}: {e}"))?;
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?} (usage: http_server [--port N])"
                ))
            }
        }
    }
    Ok(port)
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(e) => {
                    eprintln!("cannot listen for SIGTERM: {e}");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let port = match port_from_args() {
        Ok(port) => port,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let tracing = threadline_export::init();
    let app = Router::new()
        .route("/", get(index))
        .route("/work/{n}", get(work))
        .route("/fail", get(fail))
        .layer(TraceLayer::new());
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("listening on {addr}"),
        Err(e) => eprintln!("no local address: {e}"),
    }
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    // Flushes every span that ended, then shuts the exporter down.
    drop(tracing);
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
