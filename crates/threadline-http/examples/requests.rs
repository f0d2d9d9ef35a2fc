//! Traced HTTP requests, some failing: one parent span, one CLIENT span per request, and
//! attributes that record which requests succeeded.
//!
//! The scenario of fetching a job board and then each company's site, against servers this
//! example starts itself on 127.0.0.1: a board that lists three companies, one site that
//! answers 200, one that answers 500, and one address that refuses connections.
//!
//! ```text
//! cargo run -p threadline-http --features axum,reqwest --example requests
//! ```

use std::process::ExitCode;

use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use threadline::FutureExt;
use threadline_http::client::TracingMiddleware;
use threadline_http::server::TraceLayer;

async fn start_servers() -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    // A port that nothing listens on any more: bound, then closed.
    let refused = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let companies = serde_json::json!([
        {"company": "Working Co", "company_url": format!("{base}/sites/working")},
        {"company": "Broken Co", "company_url": format!("{base}/sites/broken")},
        {"company": "Gone Co", "company_url": format!("http://{refused}/")},
    ])
    .to_string();
    let app = Router::new()
        .route(
            "/positions.json",
            get(move || {
                let companies = companies.clone();
                async move { ([("content-type", "application/json")], companies) }
            }),
        )
        .route("/sites/working", get(|| async { "welcome" }))
        .route(
            "/sites/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "down for maintenance") }),
        )
        .layer(TraceLayer::new());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("server failed: {e}");
        }
    });
    Ok(format!("{base}/positions.json"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let tracing = threadline_export::init();
    let board = match start_servers().await {
        Ok(url) => url,
        Err(e) => {
            eprintln!("cannot start the local servers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(TracingMiddleware::new())
        .build();

    let parent = threadline::span_builder("get-jobs").start();
    let parent_context = parent.context();
    let outcome = async {
        let jobs: Vec<serde_json::Value> = match client.get(&board).send().await {
            Ok(response) => {
                let text = response.text().await.unwrap_or_default();
                serde_json::from_str(&text).unwrap_or_default()
            }
            Err(e) => {
                eprintln!("cannot get the job board: {e}");
                Vec::new()
            }
        };
        threadline::add_attribute_to_current_span("jobs-count", jobs.len());
        let (mut succeeded, mut failed) = (Vec::new(), Vec::new());
        for job in &jobs {
            let company = job["company"].as_str().unwrap_or("?").to_string();
            let url = job["company_url"].as_str().unwrap_or_default();
            println!("getting website for {company}");
            match client.get(url).send().await {
                Ok(response) if response.status().is_success() => succeeded.push(company),
                Ok(response) => {
                    println!("{company} answered {}", response.status());
                    failed.push(company);
                }
                Err(e) => {
                    println!("unable to get site for {company}: {e}");
                    failed.push(company);
                }
            }
        }
        let current = threadline::current_span();
        current.add_attribute("sites.succeeded", succeeded.len());
        current.add_attribute("sites.failed", failed.len());
        current.add_attribute("sites.failed.names", failed.join(","));
        (jobs.len(), succeeded.len(), failed.len())
    }
    .in_span(parent)
    .await;
    println!(
        "trace {}: {} jobs, {} sites answered, {} failed",
        parent_context.trace_id(),
        outcome.0,
        outcome.1,
        outcome.2
    );
    drop(tracing);
    if outcome == (3, 1, 2) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
