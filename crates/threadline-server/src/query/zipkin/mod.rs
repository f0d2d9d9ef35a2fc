//! The Zipkin v2 query API, as the Zipkin UI and clients call it.
//!
//! - `GET /api/v2/services`: service names, a JSON array of strings.
//! - `GET /api/v2/spans?serviceName=`: the span names of a service.
//! - `GET /api/v2/traces`: traces matching `serviceName`, `spanName`, `annotationQuery`
//!   (`key=value and key`), `minDuration`, `maxDuration` (microseconds), `endTs`, `lookback`
//!   (milliseconds; defaults: now and one day) and `limit` (default 10), newest first; a JSON
//!   array of Zipkin v2 span arrays.
//! - `GET /api/v2/trace/{traceId}`: one trace, `404` when the store has none.
//! - `GET /api/v2/traceMany?traceIds=a,b`: the traces of those ids the store has.
//! - `GET /api/v2/remoteServices?serviceName=`: the services it calls or is called by.
//! - `GET /api/v2/dependencies?endTs=&lookback=`: the calls between services in the traces
//!   that started within `lookback` milliseconds (default: all of them) before `endTs`
//!   (milliseconds, required), `[{"parent", "child", "callCount", "errorCount"}]`;
//!   `errorCount` is left out when 0, as Zipkin writes it.
//! - `GET /api/v2/autocompleteKeys` and `/api/v2/autocompleteValues?key=`: empty lists, what
//!   Zipkin answers when no autocomplete keys are configured (the UI asks for them).
//!
//! Spans are written with `threadline-wire`'s Zipkin JSON encoder, the one exporters use.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use threadline::{SpanData, TraceId};
use threadline_wire::zipkin;

use crate::error::ApiError;
use crate::query::params::{last as param, number, pairs as params, required};
use crate::store::{run_blocking, SpanStore, TagFilter, TraceQuery};

const DEFAULT_LOOKBACK_MS: u64 = 86_400_000;
const DEFAULT_LIMIT: usize = 10;

/// The query API's routes, reading `store`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::query::zipkin;
/// use threadline_server::store::MemoryStore;
///
/// let router: axum::Router = zipkin::routes(Arc::new(MemoryStore::new(1000)));
/// ```
pub fn routes(store: Arc<dyn SpanStore>) -> Router {
    Router::new()
        .route("/api/v2/services", get(services))
        .route("/api/v2/spans", get(span_names))
        .route("/api/v2/traces", get(traces))
        .route("/api/v2/trace/{trace_id}", get(trace))
        .route("/api/v2/traceMany", get(trace_many))
        .route("/api/v2/remoteServices", get(remote_services))
        .route("/api/v2/dependencies", get(dependencies))
        .route("/api/v2/autocompleteKeys", get(no_autocomplete))
        .route("/api/v2/autocompleteValues", get(no_autocomplete))
        .with_state(store)
}

fn json(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, zipkin::json::CONTENT_TYPE)], body).into_response()
}

async fn services(State(store): State<Arc<dyn SpanStore>>) -> Result<Response, ApiError> {
    let names = run_blocking(&store, |store| store.services()).await?;
    Ok(json(serde_json::to_vec(&names).unwrap_or_default()))
}

async fn span_names(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = params(query);
    let service = required(&params, "serviceName")?;
    let service = service.to_string();
    let mut names: Vec<String> = run_blocking(&store, move |store| store.operations(&service))
        .await?
        .into_iter()
        .map(|op| op.name)
        .collect();
    names.dedup();
    Ok(json(serde_json::to_vec(&names).unwrap_or_default()))
}

/// The trace query of `/api/v2/traces`'s parameters, with `now_ms` as the default `endTs`.
fn trace_query(params: &[(String, String)], now_ms: u64) -> Result<TraceQuery, ApiError> {
    let end_ms = number(params, "endTs")?.unwrap_or(now_ms);
    let lookback_ms = number(params, "lookback")?.unwrap_or(DEFAULT_LOOKBACK_MS);
    let limit = number(params, "limit")?.map_or(DEFAULT_LIMIT, |n| n as usize);
    let micros_to_nanos = |us: u64| us.saturating_mul(1_000);
    let min_duration = number(params, "minDuration")?.map(micros_to_nanos);
    let max_duration = number(params, "maxDuration")?.map(micros_to_nanos);
    if let (Some(min), Some(max)) = (min_duration, max_duration) {
        if min > max {
            return Err(ApiError::BadRequest(
                "minDuration is greater than maxDuration".into(),
            ));
        }
    }
    Ok(TraceQuery {
        service: param(params, "serviceName").map(str::to_string),
        span_name: param(params, "spanName")
            .filter(|name| *name != "all")
            .map(str::to_string),
        tags: param(params, "annotationQuery")
            .map(TagFilter::parse_zipkin)
            .unwrap_or_default(),
        min_duration_nanos: min_duration,
        max_duration_nanos: max_duration,
        start_min_unix_nano: end_ms.saturating_sub(lookback_ms).saturating_mul(1_000_000),
        start_max_unix_nano: end_ms.saturating_mul(1_000_000).saturating_add(999_999),
        limit,
        single_span: false,
    })
}

async fn traces(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let query = trace_query(&params(query), now_ms)?;
    let found = run_blocking(&store, move |store| store.find_traces(&query)).await?;
    let mut body = Vec::from(&b"["[..]);
    for (i, spans) in found.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        encode_trace(spans, &mut body);
    }
    body.push(b']');
    Ok(json(body))
}

fn encode_trace(spans: &[SpanData], out: &mut Vec<u8>) {
    zipkin::json::encode_into(spans, out);
}

/// Parses a Zipkin trace id: 1 to 32 hex digits (a 64-bit id is the low half of the 128).
fn parse_trace_id(text: &str) -> Result<TraceId, ApiError> {
    let valid = !text.is_empty() && text.len() <= 32 && text.bytes().all(|b| b.is_ascii_hexdigit());
    match u128::from_str_radix(text, 16) {
        Ok(id) if valid && id != 0 => Ok(TraceId(id)),
        _ => Err(ApiError::BadRequest(format!(
            "traceId {text:?} is not 1 to 32 hex digits, not all zeros"
        ))),
    }
}

async fn trace(
    State(store): State<Arc<dyn SpanStore>>,
    Path(trace_id): Path<String>,
) -> Result<Response, ApiError> {
    let id = parse_trace_id(&trace_id)?;
    match run_blocking(&store, move |store| store.trace(id)).await? {
        Some(spans) => Ok(json(zipkin::json::encode(&spans))),
        None => Err(ApiError::NotFound(format!("trace {trace_id} not found"))),
    }
}

async fn trace_many(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = params(query);
    let ids = required(&params, "traceIds")?;
    let ids = ids
        .split(',')
        .map(|id| parse_trace_id(id.trim()))
        .collect::<Result<Vec<_>, _>>()?;
    let traces = run_blocking(&store, move |store| {
        ids.into_iter()
            .map(|id| store.trace(id))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let mut body = Vec::from(&b"["[..]);
    for (i, spans) in traces.into_iter().flatten().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        encode_trace(&spans, &mut body);
    }
    body.push(b']');
    Ok(json(body))
}

async fn remote_services(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = params(query);
    let service = required(&params, "serviceName")?;
    let service = service.to_string();
    let names = run_blocking(&store, move |store| store.remote_services(&service)).await?;
    Ok(json(serde_json::to_vec(&names).unwrap_or_default()))
}

async fn dependencies(
    State(store): State<Arc<dyn SpanStore>>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = params(query);
    let end_ms = number(&params, "endTs")?.ok_or_else(|| ApiError::missing("endTs"))?;
    let lookback_ms = number(&params, "lookback")?.unwrap_or(end_ms);
    let start = end_ms.saturating_sub(lookback_ms).saturating_mul(1_000_000);
    let end = end_ms.saturating_mul(1_000_000).saturating_add(999_999);
    let links = run_blocking(&store, move |store| store.dependencies(start, end)).await?;
    let links: Vec<serde_json::Value> = links
        .into_iter()
        .map(|link| {
            let mut json = serde_json::json!({
                "parent": link.parent,
                "child": link.child,
                "callCount": link.call_count,
            });
            if link.error_count > 0 {
                json["errorCount"] = link.error_count.into();
            }
            json
        })
        .collect();
    Ok(json(serde_json::to_vec(&links).unwrap_or_default()))
}

async fn no_autocomplete() -> Response {
    json(b"[]".to_vec())
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
    fn trace_query_from_parameters() {
        let query = trace_query(
            &pairs(&[
                ("serviceName", "web"),
                ("spanName", "get"),
                ("annotationQuery", "error and http.method=GET"),
                ("minDuration", "10"),
                ("maxDuration", "20"),
                ("endTs", "5000"),
                ("lookback", "1000"),
                ("limit", "3"),
            ]),
            0,
        )
        .unwrap();
        assert_eq!(query.service.as_deref(), Some("web"));
        assert_eq!(query.span_name.as_deref(), Some("get"));
        assert_eq!(query.tags.len(), 2);
        assert_eq!(query.min_duration_nanos, Some(10_000));
        assert_eq!(query.max_duration_nanos, Some(20_000));
        assert_eq!(query.start_min_unix_nano, 4_000_000_000);
        assert_eq!(query.start_max_unix_nano, 5_000_999_999);
        assert_eq!(query.limit, 3);
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = trace_query(&pairs(&[("limit", "ten")]), 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"limit "ten" is not a non-negative whole number"#
        );
        let err = trace_query(&pairs(&[("minDuration", "5"), ("maxDuration", "1")]), 0);
        assert!(err.is_err());
    }

    #[test]
    fn trace_ids() {
        assert_eq!(
            parse_trace_id("5af7183fb1d4cf5f").unwrap(),
            TraceId(0x5af7183fb1d4cf5f)
        );
        assert_eq!(
            parse_trace_id(&format!("{:032x}", 7u128)).unwrap(),
            TraceId(7)
        );
        assert!(parse_trace_id("xyz").is_err());
        assert!(parse_trace_id("0").is_err());
        assert!(parse_trace_id(&"1".repeat(33)).is_err());
        assert!(parse_trace_id("+1").is_err());
    }
}
