//! Jaeger's query APIs: the HTTP API the Jaeger UI and Grafana's Jaeger data source call
//! (here), and the api_v3 HTTP gateway ([`v3`]).
//!
//! Every answer of this API is Jaeger's envelope `{"data", "total", "limit", "offset",
//! "errors"}`; `total` is the number of items in `data`, `limit` and `offset` are 0, and
//! `errors` is `null` unless something went wrong. A failure is answered with its status
//! (400 for a bad parameter, 404 for an unknown trace) and `"errors": [{"code", "msg"}]`, the
//! message naming what was wrong.
//!
//! - `GET /api/services`: service names.
//! - `GET /api/services/{service}/operations`: the span names of a service.
//! - `GET /api/operations?service=&spanKind=`: `[{"name", "spanKind"}]`, `spanKind` one of
//!   `server`, `client`, `producer`, `consumer`, `internal` (`""` for spans without a kind);
//!   the parameter keeps only that kind.
//! - `GET /api/traces`: traces in Jaeger's JSON model (`threadline-wire`'s
//!   [`jaeger::json`](threadline_wire::jaeger::json)), newest first. With one or more
//!   `traceID` parameters, those traces (each one missing adds `{"msg": "trace not found",
//!   "traceID"}` to `errors`). Otherwise a search: `service` (required), `operation`, `tags`
//!   (a JSON object of strings) and repeated `tag=key:value`, `start` and `end`
//!   (microseconds since the epoch; defaults: two days before `end`, and now),
//!   `minDuration` and `maxDuration` (Go durations such as `100ms`, `1.5s`, `2m`) and `limit`
//!   (default 100). As in Jaeger, one span must meet the operation, every tag and the
//!   duration bounds together. Tags are matched against span attributes and the tags the
//!   Jaeger mapping derives from a span's kind and status (`span.kind`, `error=true`,
//!   `otel.status_code`); not yet against process tags or log fields.
//! - `GET /api/traces/{traceID}`: `data` is an array of that one trace; 404 when the store
//!   has none.
//! - `GET /api/dependencies?endTs=&lookback=`: `[{"parent", "child", "callCount"}]` of the
//!   traces that started within `lookback` milliseconds (default a day) before `endTs`
//!   (milliseconds since the epoch, default now); `service` keeps the links to or from it.

pub mod v3;

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use threadline::{SpanData, SpanKind, TraceId};
use threadline_wire::jaeger::json as jaeger_json;

use super::params::{self, last, number};
use crate::error::ApiError;
use crate::store::{run_blocking, SpanStore, StoreError, TagFilter, TraceQuery};

const DEFAULT_LIMIT: usize = 100;
const DEFAULT_SEARCH_WINDOW_MICROS: u64 = 2 * 86_400_000_000;
const DEFAULT_DEPENDENCY_LOOKBACK_MS: u64 = 86_400_000;

/// Jaeger's HTTP query API's routes, reading `store`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::query::jaeger;
/// use threadline_server::store::MemoryStore;
///
/// let router: axum::Router = jaeger::routes(Arc::new(MemoryStore::new(1000)));
/// ```
pub fn routes(store: Arc<dyn SpanStore>) -> Router {
    Router::new()
        .route("/api/services", get(services))
        .route(
            "/api/services/{service}/operations",
            get(service_operations),
        )
        .route("/api/operations", get(operations))
        .route("/api/traces", get(traces))
        .route("/api/traces/{trace_id}", get(trace))
        .route("/api/dependencies", get(dependencies))
        .with_state(store)
}

/// An error answered in Jaeger's envelope.
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
        self.0.into_jaeger_response()
    }
}

/// Jaeger's envelope around `data` (JSON text) holding `total` items.
fn envelope(data: &[u8], total: usize, errors: Option<serde_json::Value>) -> Response {
    let mut body = Vec::with_capacity(data.len() + 64);
    body.extend_from_slice(b"{\"data\":");
    body.extend_from_slice(data);
    body.extend_from_slice(
        format!(",\"total\":{total},\"limit\":0,\"offset\":0,\"errors\":").as_bytes(),
    );
    match errors {
        Some(errors) => body.extend_from_slice(errors.to_string().as_bytes()),
        None => body.extend_from_slice(b"null"),
    }
    body.push(b'}');
    ([(header::CONTENT_TYPE, jaeger_json::CONTENT_TYPE)], body).into_response()
}

fn json_envelope(data: serde_json::Value, total: usize) -> Response {
    envelope(data.to_string().as_bytes(), total, None)
}

fn traces_envelope(traces: &[Vec<SpanData>], errors: Option<serde_json::Value>) -> Response {
    let mut data = Vec::from(&b"["[..]);
    for (i, spans) in traces.iter().enumerate() {
        if i > 0 {
            data.push(b',');
        }
        jaeger_json::encode_trace_into(spans, &mut data);
    }
    data.push(b']');
    envelope(&data, traces.len(), errors)
}

/// Parses a Jaeger trace id: 1 to 32 hex digits, not all zeros.
pub(crate) fn parse_trace_id(name: &str, text: &str) -> Result<TraceId, ApiError> {
    let valid = !text.is_empty() && text.len() <= 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
    match u128::from_str_radix(text, 16) {
        Ok(id) if valid && id != 0 => Ok(TraceId(id)),
        _ => Err(ApiError::BadRequest(format!(
            "{name} {text:?} is not 1 to 32 hex digits, not all zeros"
        ))),
    }
}

/// A span kind as Jaeger names it in operations: empty for a span without one.
pub(crate) fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "",
        other => other.as_str(),
    }
}

/// The kind a `spanKind` parameter asks for; `None` for all kinds.
pub(crate) fn parse_kind(name: &str, text: Option<&str>) -> Result<Option<SpanKind>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    match text.parse::<SpanKind>() {
        Ok(SpanKind::Unspecified) | Err(_) => Err(ApiError::BadRequest(format!(
            "{name} {text:?} is not server, client, producer, consumer or internal"
        ))),
        Ok(kind) => Ok(Some(kind)),
    }
}

/// Tag conditions from a JSON object of strings.
pub(crate) fn json_tags(name: &str, text: &str) -> Result<Vec<TagFilter>, ApiError> {
    let bad = |why: String| {
        ApiError::BadRequest(format!("{name} is not a JSON object of strings: {why}"))
    };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    map.into_iter()
        .map(|(key, value)| match value {
            serde_json::Value::String(value) => Ok(TagFilter {
                key,
                value: Some(value),
            }),
            other => Err(bad(format!("{key:?} is {other}, not a string"))),
        })
        .collect()
}

async fn services(State(store): State<Arc<dyn SpanStore>>) -> Result<Response, Failure> {
    let names = run_blocking(&store, |store| store.services()).await?;
    let total = names.len();
    Ok(json_envelope(json!(names), total))
}

async fn service_operations(
    State(store): State<Arc<dyn SpanStore>>,
    Path(service): Path<String>,
) -> Result<Response, Failure> {
    let mut names: Vec<String> = run_blocking(&store, move |store| store.operations(&service))
        .await?
        .into_iter()
        .map(|op| op.name)
        .collect();
    names.dedup();
    let total = names.len();
    Ok(json_envelope(json!(names), total))
}

async fn operations(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let params = params::pairs(query);
    let service = params::required(&params, "service")?.to_string();
    let kind = parse_kind("spanKind", last(&params, "spanKind"))?;
    let operations = run_blocking(&store, move |store| store.operations(&service)).await?;
    let data: Vec<serde_json::Value> = operations
        .into_iter()
        .filter(|op| kind.is_none_or(|kind| op.span_kind == kind))
        .map(|op| json!({ "name": op.name, "spanKind": kind_name(op.span_kind) }))
        .collect();
    let total = data.len();
    Ok(json_envelope(json!(data), total))
}

/// The search of `/api/traces`' parameters, with `now_micros` as the default `end`.
fn search_query(params: &[(String, String)], now_micros: u64) -> Result<TraceQuery, ApiError> {
    let service = last(params, "service").ok_or_else(|| {
        ApiError::BadRequest("service is missing: search with service, or ask for traceID".into())
    })?;
    let end = number(params, "end")?.unwrap_or(now_micros);
    let start =
        number(params, "start")?.unwrap_or(end.saturating_sub(DEFAULT_SEARCH_WINDOW_MICROS));
    if start > end {
        return Err(ApiError::BadRequest(format!(
            "start {start} is after end {end}"
        )));
    }
    let limit = match number(params, "limit")? {
        None | Some(0) => DEFAULT_LIMIT,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let min_duration = params::duration(params, "minDuration")?;
    let max_duration = params::duration(params, "maxDuration")?;
    if let (Some(min), Some(max)) = (min_duration, max_duration) {
        if max < min {
            return Err(ApiError::BadRequest(
                "maxDuration is less than minDuration".into(),
            ));
        }
    }
    let mut tags = Vec::new();
    for tag in params::all(params, "tag") {
        let (key, value) = tag
            .split_once(':')
            .ok_or_else(|| ApiError::BadRequest(format!("tag {tag:?} is not key:value")))?;
        tags.push(TagFilter {
            key: key.to_string(),
            value: Some(value.to_string()),
        });
    }
    for text in params::all(params, "tags") {
        tags.extend(json_tags("tags", text)?);
    }
    Ok(TraceQuery {
        service: Some(service.to_string()),
        span_name: last(params, "operation").map(str::to_string),
        tags,
        min_duration_nanos: min_duration,
        max_duration_nanos: max_duration,
        start_min_unix_nano: start.saturating_mul(1_000),
        start_max_unix_nano: end.saturating_mul(1_000).saturating_add(999),
        limit,
        single_span: true,
    })
}

async fn traces(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let params = params::pairs(query);
    let ids = params::all(&params, "traceID")
        .map(|id| parse_trace_id("traceID", id))
        .collect::<Result<Vec<_>, _>>()?;
    if ids.is_empty() {
        let query = search_query(&params, params::now_nanos() / 1_000)?;
        let found = run_blocking(&store, move |store| store.find_traces(&query)).await?;
        return Ok(traces_envelope(&found, None));
    }
    let found = run_blocking(&store, move |store| {
        ids.into_iter()
            .map(|id| store.trace(id).map(|trace| (id, trace)))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let mut traces = Vec::with_capacity(found.len());
    let mut missing = Vec::new();
    for (id, trace) in found {
        match trace {
            Some(spans) => traces.push(spans),
            None => missing.push(json!({
                "msg": "trace not found",
                "traceID": jaeger_json::trace_id_text(id),
            })),
        }
    }
    let errors = (!missing.is_empty()).then(|| json!(missing));
    Ok(traces_envelope(&traces, errors))
}

async fn trace(
    State(store): State<Arc<dyn SpanStore>>,
    Path(trace_id): Path<String>,
) -> Result<Response, Failure> {
    let id = parse_trace_id("traceID", &trace_id)?;
    match run_blocking(&store, move |store| store.trace(id)).await? {
        Some(spans) => Ok(traces_envelope(&[spans], None)),
        None => Err(ApiError::NotFound(format!("trace {trace_id} not found")).into()),
    }
}

async fn dependencies(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, Failure> {
    let params = params::pairs(query);
    let end_ms = number(&params, "endTs")?.unwrap_or(params::now_nanos() / 1_000_000);
    let lookback_ms = number(&params, "lookback")?.unwrap_or(DEFAULT_DEPENDENCY_LOOKBACK_MS);
    let service = last(&params, "service").map(str::to_string);
    let start = end_ms.saturating_sub(lookback_ms).saturating_mul(1_000_000);
    let end = end_ms.saturating_mul(1_000_000).saturating_add(999_999);
    let links = run_blocking(&store, move |store| store.dependencies(start, end)).await?;
    let data: Vec<serde_json::Value> = links
        .into_iter()
        .filter(|link| {
            service
                .as_ref()
                .is_none_or(|s| link.parent == *s || link.child == *s)
        })
        .map(|link| json!({ "parent": link.parent, "child": link.child, "callCount": link.call_count }))
        .collect();
    let total = data.len();
    Ok(json_envelope(json!(data), total))
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
        let query = search_query(
            &pairs(&[
                ("service", "web"),
                ("operation", "get"),
                ("tag", "http.method:GET"),
                ("tag", "url:http://x"),
                ("tags", r#"{"error":"true"}"#),
                ("start", "1000"),
                ("end", "5000"),
                ("minDuration", "1.5ms"),
                ("maxDuration", "1s"),
                ("limit", "3"),
            ]),
            0,
        )
        .unwrap();
        assert_eq!(query.service.as_deref(), Some("web"));
        assert_eq!(query.span_name.as_deref(), Some("get"));
        let tags: Vec<(&str, Option<&str>)> = query
            .tags
            .iter()
            .map(|t| (t.key.as_str(), t.value.as_deref()))
            .collect();
        assert_eq!(
            tags,
            [
                ("http.method", Some("GET")),
                ("url", Some("http://x")),
                ("error", Some("true"))
            ]
        );
        assert_eq!(query.start_min_unix_nano, 1_000_000);
        assert_eq!(query.start_max_unix_nano, 5_000_999);
        assert_eq!(query.min_duration_nanos, Some(1_500_000));
        assert_eq!(query.max_duration_nanos, Some(1_000_000_000));
        assert_eq!(query.limit, 3);
        assert!(query.single_span);

        let defaults = search_query(&pairs(&[("service", "web")]), 3 * 86_400_000_000).unwrap();
        assert_eq!(defaults.limit, DEFAULT_LIMIT);
        assert_eq!(defaults.start_min_unix_nano, 86_400_000_000_000);
    }

    #[test]
    fn bad_search_parameters_are_named() {
        let cases: [(&[(&str, &str)], &str); 6] = [
            (
                &[],
                "service is missing: search with service, or ask for traceID",
            ),
            (
                &[("service", "s"), ("minDuration", "10")],
                r#"minDuration "10" is not a duration such as 100ms, 1.5s or 2m"#,
            ),
            (
                &[
                    ("service", "s"),
                    ("minDuration", "2s"),
                    ("maxDuration", "1s"),
                ],
                "maxDuration is less than minDuration",
            ),
            (
                &[("service", "s"), ("tag", "novalue")],
                r#"tag "novalue" is not key:value"#,
            ),
            (
                &[("service", "s"), ("tags", r#"{"a":1}"#)],
                r#"tags is not a JSON object of strings: "a" is 1, not a string"#,
            ),
            (
                &[("service", "s"), ("start", "9"), ("end", "1")],
                "start 9 is after end 1",
            ),
        ];
        for (list, message) in cases {
            let err = search_query(&pairs(list), 0).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn trace_ids_and_kinds() {
        assert_eq!(parse_trace_id("traceID", "abc").unwrap(), TraceId(0xabc));
        assert!(parse_trace_id("traceID", "0").is_err());
        assert!(parse_trace_id("traceID", &"f".repeat(33)).is_err());
        assert_eq!(
            parse_kind("spanKind", Some("server")).unwrap(),
            Some(SpanKind::Server)
        );
        assert_eq!(parse_kind("spanKind", None).unwrap(), None);
        assert!(parse_kind("spanKind", Some("unspecified")).is_err());
        assert_eq!(kind_name(SpanKind::Unspecified), "");
    }
}
