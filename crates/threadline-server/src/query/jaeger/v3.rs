//! Jaeger's api_v3 HTTP gateway: the `QueryService` of `jaeger/api_v3/query_service.proto`
//! over HTTP, answering OTLP/JSON.
//!
//! - `GET /api/v3/services`: `{"services": [...]}`.
//! - `GET /api/v3/operations?service=&span_kind=`: `{"operations": [{"name", "spanKind"}]}`,
//!   kinds named as in the [Jaeger API](super).
//! - `GET /api/v3/traces/{trace_id}`: `{"result": {"resourceSpans": [...]}}`, the trace as
//!   OTLP/JSON (`threadline-wire`'s [`otlp::json`] encoder);
//!   `start_time` and `end_time` (RFC 3339) are checked but not needed.
//! - `GET /api/v3/traces?query.service_name=&...`: the spans of the matching traces in one
//!   `result`. `query.start_time_min` and `query.start_time_max` (RFC 3339, the second
//!   exclusive) are required; `query.operation_name`, `query.attributes` (a JSON object of
//!   strings), `query.duration_min` and `query.duration_max` (Go durations) are conditions
//!   one span must meet together; `query.num_traces` (or `query.search_depth`) bounds the
//!   traces, 100 by default.
//! - `GET /api/v3/dependencies?start_time=&end_time=`: `{"dependencies": [{"parent", "child",
//!   "callCount"}]}` (`callCount` a string, as proto3 JSON writes a `uint64`).
//!
//! As in Jaeger, a trace id or search that finds nothing is 404, and every failure is
//! `{"error": {"httpCode", "message"}}` with that status.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use threadline::SpanData;
use threadline_wire::otlp;

use super::{json_tags, kind_name, parse_kind, parse_trace_id};
use crate::error::ApiError;
use crate::query::params::{self, last, number};
use crate::store::{run_blocking, SpanStore, StoreError, TraceQuery};

const DEFAULT_NUM_TRACES: usize = 100;

/// The api_v3 HTTP gateway's routes, reading `store`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::query::jaeger::v3;
/// use threadline_server::store::MemoryStore;
///
/// let router: axum::Router = v3::routes(Arc::new(MemoryStore::new(1000)));
/// ```
pub fn routes(store: Arc<dyn SpanStore>) -> Router {
    Router::new()
        .route("/api/v3/services", get(services))
        .route("/api/v3/operations", get(operations))
        .route("/api/v3/traces", get(find_traces))
        .route("/api/v3/traces/{trace_id}", get(trace))
        .route("/api/v3/dependencies", get(dependencies))
        .with_state(store)
}

/// An error answered in the gateway's shape.
struct Failure(ApiError);

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Failure(error)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure(ApiError::Store(error))
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        self.0.into_jaeger_v3_response()
    }
}

fn json_body(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, otlp::json::CONTENT_TYPE)], body).into_response()
}

/// The spans in the gateway's wrapper, `{"result": <TracesData>}`; 404 when there are none.
fn result(spans: &[SpanData]) -> Result<Response, Failure> {
    if spans.is_empty() {
        return Err(ApiError::NotFound("no traces found".into()).into());
    }
    let mut body = Vec::from(&b"{\"result\":"[..]);
    body.extend_from_slice(&otlp::json::encode(spans));
    body.push(b'}');
    Ok(json_body(body))
}

async fn services(State(store): State<Arc<dyn SpanStore>>) -> Result<Response, Failure> {
    let names = run_blocking(&store, |store| store.services()).await?;
    Ok(json_body(
        json!({ "services": names }).to_string().into_bytes(),
    ))
}

async fn operations(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let params = params::pairs(query);
    let service = params::required(&params, "service")?.to_string();
    let kind = parse_kind("span_kind", last(&params, "span_kind"))?;
    let operations = run_blocking(&store, move |store| store.operations(&service)).await?;
    let operations: Vec<serde_json::Value> = operations
        .into_iter()
        .filter(|op| kind.is_none_or(|kind| op.span_kind == kind))
        .map(|op| json!({ "name": op.name, "spanKind": kind_name(op.span_kind) }))
        .collect();
    Ok(json_body(
        json!({ "operations": operations }).to_string().into_bytes(),
    ))
}

async fn trace(
    State(store): State<Arc<dyn SpanStore>>,
    Path(trace_id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let id = parse_trace_id("trace_id", &trace_id)?;
    let params = params::pairs(query);
    params::time(&params, "start_time")?;
    params::time(&params, "end_time")?;
    let spans = run_blocking(&store, move |store| store.trace(id)).await?;
    match spans {
        Some(spans) => result(&spans),
        None => Err(ApiError::NotFound(format!("trace {trace_id} not found")).into()),
    }
}

/// The search of `/api/v3/traces`' parameters.
fn search_query(params: &[(String, String)]) -> Result<TraceQuery, ApiError> {
    let (Some(min), Some(max)) = (
        params::time(params, "query.start_time_min")?,
        params::time(params, "query.start_time_max")?,
    ) else {
        return Err(ApiError::BadRequest(
            "query.start_time_min and query.start_time_max are required".into(),
        ));
    };
    if max <= min {
        return Err(ApiError::BadRequest(
            "query.start_time_max is not after query.start_time_min".into(),
        ));
    }
    let limit = match number(params, "query.num_traces")?.or(number(params, "query.search_depth")?)
    {
        None | Some(0) => DEFAULT_NUM_TRACES,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let min_duration = params::duration(params, "query.duration_min")?;
    let max_duration = params::duration(params, "query.duration_max")?;
    if let (Some(min), Some(max)) = (min_duration, max_duration) {
        if max < min {
            return Err(ApiError::BadRequest(
                "query.duration_max is less than query.duration_min".into(),
            ));
        }
    }
    let tags = match last(params, "query.attributes") {
        Some(text) => json_tags("query.attributes", text)?,
        None => Vec::new(),
    };
    Ok(TraceQuery {
        service: last(params, "query.service_name").map(str::to_string),
        span_name: last(params, "query.operation_name").map(str::to_string),
        tags,
        min_duration_nanos: min_duration,
        max_duration_nanos: max_duration,
        start_min_unix_nano: min,
        // the maximum is exclusive
        start_max_unix_nano: max - 1,
        limit,
        single_span: true,
    })
}

async fn find_traces(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let query = search_query(&params::pairs(query))?;
    let found = run_blocking(&store, move |store| store.find_traces(&query)).await?;
    let spans: Vec<SpanData> = found.into_iter().flatten().collect();
    result(&spans)
}

async fn dependencies(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let params = params::pairs(query);
    let (Some(start), Some(end)) = (
        params::time(&params, "start_time")?,
        params::time(&params, "end_time")?,
    ) else {
        return Err(ApiError::BadRequest("start_time and end_time are required".into()).into());
    };
    let links = run_blocking(&store, move |store| store.dependencies(start, end)).await?;
    let dependencies: Vec<serde_json::Value> = links
        .into_iter()
        .map(|link| {
            json!({
                "parent": link.parent,
                "child": link.child,
                "callCount": link.call_count.to_string(),
            })
        })
        .collect();
    Ok(json_body(
        json!({ "dependencies": dependencies })
            .to_string()
            .into_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn search_from_parameters() {
        let query = search_query(&pairs(&[
            ("query.service_name", "web"),
            ("query.operation_name", "get"),
            ("query.start_time_min", "1970-01-01T00:00:01Z"),
            ("query.start_time_max", "1970-01-01T00:00:02.5Z"),
            ("query.duration_min", "1ms"),
            ("query.num_traces", "7"),
            ("query.attributes", r#"{"http.method":"GET"}"#),
        ]))
        .unwrap();
        assert_eq!(query.service.as_deref(), Some("web"));
        assert_eq!(query.span_name.as_deref(), Some("get"));
        assert_eq!(query.start_min_unix_nano, 1_000_000_000);
        assert_eq!(query.start_max_unix_nano, 2_499_999_999);
        assert_eq!(query.min_duration_nanos, Some(1_000_000));
        assert_eq!(query.limit, 7);
        assert_eq!(query.tags[0].key, "http.method");
        assert!(query.single_span);
    }

    #[test]
    fn bad_search_parameters_are_named() {
        let window = [
            ("query.start_time_min", "2024-01-01T00:00:00Z"),
            ("query.start_time_max", "2024-01-02T00:00:00Z"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut list = window.to_vec();
            list.extend_from_slice(extra);
            search_query(&pairs(&list)).unwrap_err().to_string()
        };
        assert_eq!(
            search_query(&pairs(&[("query.service_name", "s")]))
                .unwrap_err()
                .to_string(),
            "query.start_time_min and query.start_time_max are required"
        );
        assert!(with(&[("query.start_time_min", "yesterday")])
            .starts_with(r#"query.start_time_min "yesterday" is not an RFC 3339 time"#));
        assert_eq!(
            with(&[("query.duration_min", "5")]),
            r#"query.duration_min "5" is not a duration such as 100ms, 1.5s or 2m"#
        );
        assert_eq!(
            with(&[("query.num_traces", "-1")]),
            r#"query.num_traces "-1" is not a non-negative whole number"#
        );
    }
}
