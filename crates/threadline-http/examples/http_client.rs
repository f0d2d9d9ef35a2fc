//! Sends one traced GET: a root span `http_client`, and inside it the request's CLIENT span,
//! whose context goes out in the `OTEL_PROPAGATORS` headers.
//!
//! ```text
//! cargo run -p threadline-http --features reqwest --example http_client -- http://127.0.0.1:8080/work/3
//! ```
//!
//! Prints the status and body; exits 0 on a 2xx status, 1 otherwise, 2 on bad usage. Spans
//! are flushed before it exits.

use std::process::ExitCode;

use threadline::FutureExt;
use threadline_http::client::TracingMiddleware;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: http_client URL");
        return ExitCode::from(2);
    };
    let tracing = threadline_export::init();
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();
    let root = threadline::span_builder("http_client")
        .attribute("target", url.clone())
        .start();
    let outcome = async {
        let response = client.get(&url).send().await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Ok::<_, reqwest_middleware::Error>((status, body))
    }
    .in_span(root)
    .await;
    let code = match outcome {
        Ok((status, body)) => {
            println!("{status}");
            print!("{body}");
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("request failed: {e}");
            ExitCode::FAILURE
        }
    };
    // Flushes the spans before the process ends.
    drop(tracing);
    code
}
