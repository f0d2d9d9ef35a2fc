//! Span stores: where received spans are kept and how the query APIs find them.
//!
//! A receiver hands each decoded batch to [`SpanStore::append`]; a query API reads through the
//! other methods. Each implementation lives in its own folder: [`memory`] (bounded, in memory)
//! and [`disk`] (persistent, with a retention period; the default of `threadline serve`).
//!
//! The trait is synchronous: the handlers call it on tokio's blocking pool, so that a store
//! doing disk I/O never stalls the async workers. A store whose append is CPU work followed
//! by a wait for I/O done elsewhere can instead do that work on the receiving task and hand
//! back a future for the wait ([`SpanStore::start_append`]): no thread then sits blocked per
//! request, and the spans are freed on the thread that decoded them.

pub mod disk;
pub mod memory;
#[cfg(test)]
mod suite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use threadline::{SpanData, SpanKind, TraceId};

pub use disk::{DiskOptions, DiskStore};
pub use memory::MemoryStore;

/// Why a store operation failed.
///
/// The in-memory store never fails; persistent stores will (disk full, corrupt segment).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot serve the request now (closed, or its backing storage failed).
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// One operation of a service: a span name and the kind of the spans that carry it.
///
/// # Examples
///
/// ```
/// use threadline::SpanKind;
/// use threadline_server::store::Operation;
///
/// let op = Operation { name: "get /users".into(), span_kind: SpanKind::Server };
/// assert_eq!(op.name, "get /users");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Operation {
    /// The span name.
    pub name: String,
    /// The span kind.
    pub span_kind: SpanKind,
}

/// A tag condition of a trace search: `key` alone, or `key=value`.
///
/// A bare key matches a span attribute with that key or an annotation with that description
/// (Zipkin's `annotationQuery` semantics); `key=value` matches an attribute whose value, as
/// text, equals `value`.
///
/// # Examples
///
/// ```
/// use threadline_server::store::TagFilter;
///
/// let filters = TagFilter::parse_zipkin("http.method=GET and error");
/// assert_eq!(filters[0], TagFilter { key: "http.method".into(), value: Some("GET".into()) });
/// assert_eq!(filters[1], TagFilter { key: "error".into(), value: None });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    /// The attribute key or annotation description.
    pub key: String,
    /// The attribute value as text, or `None` to match the key alone.
    pub value: Option<String>,
}

impl TagFilter {
    /// Parses a Zipkin `annotationQuery`: terms separated by ` and `, each `key` or
    /// `key=value`; empty terms are skipped.
    pub fn parse_zipkin(query: &str) -> Vec<TagFilter> {
        query
            .split(" and ")
            .map(str::trim)
            .filter(|term| !term.is_empty())
            .map(|term| match term.split_once('=') {
                Some((key, value)) => TagFilter {
                    key: key.trim().to_string(),
                    value: Some(value.trim().to_string()),
                },
                None => TagFilter {
                    key: term.to_string(),
                    value: None,
                },
            })
            .collect()
    }
}

/// What [`SpanStore::find_traces`] looks for.
///
/// Zipkin's semantics: a trace matches when its earliest span starts within
/// `[start_min_unix_nano, start_max_unix_nano]` and, among the spans of `service` (all spans
/// when `None`), some span has `span_name`, each tag filter is met by some span, and some span
/// lasts within the duration bounds. The conditions may be met by different spans.
///
/// # Examples
///
/// ```
/// use threadline_server::store::TraceQuery;
///
/// let query = TraceQuery { service: Some("frontend".into()), limit: 20, ..TraceQuery::default() };
/// assert_eq!(query.start_max_unix_nano, u64::MAX);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceQuery {
    /// The service whose spans the conditions apply to.
    pub service: Option<String>,
    /// A span name some span of the service must have.
    pub span_name: Option<String>,
    /// Conditions on attributes and annotations, all of which must hold.
    pub tags: Vec<TagFilter>,
    /// The least duration of some span, nanoseconds.
    pub min_duration_nanos: Option<u64>,
    /// The greatest duration of that span, nanoseconds.
    pub max_duration_nanos: Option<u64>,
    /// The earliest trace start, nanoseconds since the Unix epoch.
    pub start_min_unix_nano: u64,
    /// The latest trace start, nanoseconds since the Unix epoch.
    pub start_max_unix_nano: u64,
    /// The most traces returned.
    pub limit: usize,
    /// Whether one span must meet every span condition (name, tags, duration) at once, as
    /// Jaeger's search does; otherwise different spans may meet them, as Zipkin's does.
    pub single_span: bool,
}

impl Default for TraceQuery {
    fn default() -> Self {
        TraceQuery {
            service: None,
            span_name: None,
            tags: Vec::new(),
            min_duration_nanos: None,
            max_duration_nanos: None,
            start_min_unix_nano: 0,
            start_max_unix_nano: u64::MAX,
            limit: 10,
            single_span: false,
        }
    }
}

/// What a store has done since it was created.
///
/// # Examples
///
/// ```
/// use threadline_server::store::{MemoryStore, SpanStore};
///
/// let store = MemoryStore::new(1000);
/// assert_eq!(store.counters().stored, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounters {
    /// Spans appended.
    pub stored: u64,
    /// Spans removed to stay within the store's bounds (its size, or its retention period).
    pub evicted: u64,
    /// The size of the store's files, in bytes; 0 for a store in memory.
    pub bytes_on_disk: u64,
}

/// A place to keep spans and find them again.
///
/// Implementations are shared between the receivers and the query APIs, so they are `Send +
/// Sync` and take `&self`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline::{Resource, SpanData, SpanId, TraceId};
/// use threadline_server::store::{MemoryStore, SpanStore, TraceQuery};
///
/// let store: Arc<dyn SpanStore> = Arc::new(MemoryStore::new(1000));
/// let mut span = SpanData::new(TraceId(7), SpanId(1), "get /users");
/// span.resource = Arc::new(Resource::new("web"));
/// store.append(vec![span]).unwrap();
///
/// assert_eq!(store.services().unwrap(), ["web"]);
/// assert_eq!(store.operations("web").unwrap()[0].name, "get /users");
/// assert!(store.remote_services("web").unwrap().is_empty());
/// assert_eq!(store.trace(TraceId(7)).unwrap().unwrap().len(), 1);
/// let query = TraceQuery { service: Some("web".into()), ..TraceQuery::default() };
/// assert_eq!(store.find_traces(&query).unwrap().len(), 1);
/// assert_eq!(store.counters().stored, 1);
/// ```
pub trait SpanStore: Send + Sync + 'static {
    /// Appends a batch of spans.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the batch could not be kept.
    fn append(&self, spans: Vec<SpanData>) -> Result<(), StoreError>;

    /// Starts appending a batch from an async task: either the store takes the batch, does
    /// what it can without blocking (encoding, queueing) and answers with the wait for the
    /// rest, or it hands the batch back for [`SpanStore::append`] on the blocking pool. The
    /// default hands it back; a store that takes it must not block here for long (no I/O).
    fn start_append(&self, spans: Vec<SpanData>) -> StartedAppend {
        StartedAppend::Blocking(spans)
    }

    /// The spans of one trace, in the order received; `None` when the store has none.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn trace(&self, trace_id: TraceId) -> Result<Option<Vec<SpanData>>, StoreError>;

    /// The service names of the stored spans, sorted.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn services(&self) -> Result<Vec<String>, StoreError>;

    /// The operations of one service, sorted by name then kind.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn operations(&self, service: &str) -> Result<Vec<Operation>, StoreError>;

    /// The services the spans of `service` call or are called by (their `peer.service`
    /// attribute, Zipkin's `remoteEndpoint.serviceName`), sorted.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn remote_services(&self, service: &str) -> Result<Vec<String>, StoreError>;

    /// The traces matching `query`, newest (latest start) first, at most `query.limit`.
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn find_traces(&self, query: &TraceQuery) -> Result<Vec<Vec<SpanData>>, StoreError>;

    /// The calls between services in traces whose earliest span starts within
    /// `[start_unix_nano, end_unix_nano]`, sorted by parent then child (see
    /// [`DependencyLink`]).
    ///
    /// # Errors
    ///
    /// [`StoreError`] when the store cannot be read.
    fn dependencies(
        &self,
        start_unix_nano: u64,
        end_unix_nano: u64,
    ) -> Result<Vec<DependencyLink>, StoreError>;

    /// How many spans were stored and evicted so far.
    fn counters(&self) -> StoreCounters;
}

/// What [`SpanStore::start_append`] did with a batch.
pub enum StartedAppend {
    /// Nothing: append these spans with [`SpanStore::append`], off the async workers.
    Blocking(Vec<SpanData>),
    /// The store took the batch; this answers as `append` would once the batch is kept.
    Waiting(Pin<Box<dyn Future<Output = Result<(), StoreError>> + Send>>),
}

impl std::fmt::Debug for StartedAppend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartedAppend::Blocking(spans) => {
                f.debug_tuple("Blocking").field(&spans.len()).finish()
            }
            StartedAppend::Waiting(_) => f.write_str("Waiting"),
        }
    }
}

/// Calls from one service to another, as Zipkin's and Jaeger's dependency graphs show them.
///
/// A span whose parent belongs to another service is a call from the parent's service to the
/// span's. A client or producer span naming a `peer.service` that no child span of it
/// belongs to is a call to that (uninstrumented) service. A call is an error when the called
/// side's span has an error status.
///
/// # Examples
///
/// ```
/// use threadline_server::store::DependencyLink;
///
/// let link = DependencyLink { parent: "web".into(), child: "db".into(), call_count: 3, error_count: 1 };
/// assert_eq!(link.call_count - link.error_count, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyLink {
    /// The calling service.
    pub parent: String,
    /// The called service.
    pub child: String,
    /// How many calls.
    pub call_count: u64,
    /// How many of them failed.
    pub error_count: u64,
}

/// Dependency links accumulated over traces, keyed by (parent, child).
#[derive(Debug, Default)]
pub(crate) struct DependencyLinker {
    links: std::collections::BTreeMap<(String, String), (u64, u64)>,
}

impl DependencyLinker {
    /// Adds the calls of one trace's spans.
    pub(crate) fn add_trace(&mut self, spans: &[SpanData]) {
        use std::collections::HashMap;
        let by_id: HashMap<u64, &SpanData> = spans.iter().map(|s| (s.span_id.0, s)).collect();
        let mut has_child_elsewhere: std::collections::HashSet<u64> = Default::default();
        for span in spans {
            let Some(parent) = span.parent_span_id.and_then(|p| by_id.get(&p.0)) else {
                continue;
            };
            let (from, to) = (&parent.resource.service_name, &span.resource.service_name);
            if from != to {
                has_child_elsewhere.insert(parent.span_id.0);
                self.count(from, to, is_error(span));
            }
        }
        for span in spans {
            if !matches!(span.kind, SpanKind::Client | SpanKind::Producer)
                || has_child_elsewhere.contains(&span.span_id.0)
            {
                continue;
            }
            let peer = span.attributes.iter().find(|kv| &*kv.key == PEER_SERVICE);
            if let Some(peer) = peer {
                let peer = peer.value.to_string();
                if !peer.is_empty() && *peer != *span.resource.service_name {
                    self.count(&span.resource.service_name, &peer, is_error(span));
                }
            }
        }
    }

    fn count(&mut self, parent: &str, child: &str, error: bool) {
        let entry = self
            .links
            .entry((parent.to_string(), child.to_string()))
            .or_default();
        entry.0 += 1;
        entry.1 += u64::from(error);
    }

    /// The links, sorted by parent then child.
    pub(crate) fn finish(self) -> Vec<DependencyLink> {
        self.links
            .into_iter()
            .map(
                |((parent, child), (call_count, error_count))| DependencyLink {
                    parent,
                    child,
                    call_count,
                    error_count,
                },
            )
            .collect()
    }
}

fn is_error(span: &SpanData) -> bool {
    span.status.as_ref().is_some_and(|status| !status.is_ok())
}

/// Appends a batch from an async task: through [`SpanStore::start_append`] when the store
/// takes it there, on tokio's blocking pool otherwise.
pub(crate) async fn append_from_task(
    store: &Arc<dyn SpanStore>,
    spans: Vec<SpanData>,
) -> Result<(), StoreError> {
    match store.start_append(spans) {
        StartedAppend::Blocking(spans) => {
            run_blocking(store, move |store| store.append(spans)).await
        }
        StartedAppend::Waiting(wait) => wait.await,
    }
}

/// Runs a store operation on tokio's blocking pool, so that a store doing disk I/O never
/// stalls the async workers serving other requests.
pub(crate) async fn run_blocking<T, F>(
    store: &Arc<dyn SpanStore>,
    operation: F,
) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce(&dyn SpanStore) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || operation(&*store))
        .await
        .unwrap_or_else(|join| {
            Err(StoreError::Unavailable(format!(
                "store task failed: {join}"
            )))
        })
}

/// The attribute naming a span's remote service (Zipkin's `remoteEndpoint.serviceName`).
pub(crate) const PEER_SERVICE: &str = "peer.service";

/// Whether a trace meets a query (Zipkin's semantics, see [`TraceQuery`]); shared by stores
/// that filter in memory.
pub(crate) fn trace_matches(spans: &[SpanData], query: &TraceQuery) -> bool {
    let Some(start) = spans.iter().map(|s| s.start_time_unix_nano).min() else {
        return false;
    };
    if start < query.start_min_unix_nano || start > query.start_max_unix_nano {
        return false;
    }
    let of_service = || {
        spans.iter().filter(|s| match &query.service {
            Some(service) => &*s.resource.service_name == service.as_str(),
            None => true,
        })
    };
    if of_service().next().is_none() {
        return false;
    }
    if query.single_span {
        return of_service().any(|s| span_meets(s, query));
    }
    if let Some(name) = &query.span_name {
        if !of_service().any(|s| &*s.name == name.as_str()) {
            return false;
        }
    }
    for tag in &query.tags {
        if !of_service().any(|s| span_has_tag(s, tag)) {
            return false;
        }
    }
    let bounded = query.min_duration_nanos.is_some() || query.max_duration_nanos.is_some();
    if bounded && !of_service().any(|s| duration_within(s, query)) {
        return false;
    }
    true
}

/// Whether one span meets every span condition of `query` (Jaeger's semantics).
fn span_meets(span: &SpanData, query: &TraceQuery) -> bool {
    query
        .span_name
        .as_ref()
        .is_none_or(|name| *span.name == **name)
        && query.tags.iter().all(|tag| span_has_tag(span, tag))
        && duration_within(span, query)
}

fn duration_within(span: &SpanData, query: &TraceQuery) -> bool {
    let min = query.min_duration_nanos.unwrap_or(0);
    let max = query.max_duration_nanos.unwrap_or(u64::MAX);
    let duration = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    (min..=max).contains(&duration)
}

fn span_has_tag(span: &SpanData, tag: &TagFilter) -> bool {
    let derived = derived_tags(span)
        .into_iter()
        .flatten()
        .find(|(key, _)| *key == tag.key);
    if let Some((_, derived)) = derived {
        if tag.value.as_deref().is_none_or(|value| value == derived) {
            return true;
        }
    }
    let attribute = span.attributes.iter().find(|kv| *kv.key == *tag.key);
    match &tag.value {
        Some(value) => attribute.is_some_and(|kv| kv.value.to_string() == *value),
        None => attribute.is_some() || span.annotations.iter().any(|a| *a.description == *tag.key),
    }
}

/// The tags a span has without carrying them as attributes, as Jaeger shows them and its UI
/// searches them: `error=true` for an error status, `otel.status_code` (`OK` or `ERROR`) when
/// a status is set, and `span.kind` (`server`, `client`, ...) when the kind is.
pub(crate) fn derived_tags(span: &SpanData) -> [Option<(&'static str, &'static str)>; 3] {
    let status = span.status.as_ref();
    let error = status.is_some_and(|status| !status.is_ok());
    [
        error.then_some(("error", "true")),
        status.map(|_| ("otel.status_code", if error { "ERROR" } else { "OK" })),
        (span.kind != SpanKind::Unspecified).then(|| ("span.kind", span.kind.as_str())),
    ]
}
