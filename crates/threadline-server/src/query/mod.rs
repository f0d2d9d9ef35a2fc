//! Query APIs: one module per API, each reading the store and encoding what it finds.

pub mod jaeger;
pub(crate) mod params;
pub mod zipkin;

use std::sync::Arc;

use axum::Router;

use crate::store::SpanStore;

/// Every query API of the query port, reading `store`: the Zipkin v2 API
/// ([`zipkin::routes`]), Jaeger's HTTP API ([`jaeger::routes`]) and its api_v3 HTTP gateway
/// ([`jaeger::v3::routes`]). Their paths do not overlap.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::query;
/// use threadline_server::store::MemoryStore;
///
/// let router: axum::Router = query::routes(Arc::new(MemoryStore::new(1000)));
/// ```
pub fn routes(store: Arc<dyn SpanStore>) -> Router {
    zipkin::routes(store.clone())
        .merge(jaeger::routes(store.clone()))
        .merge(jaeger::v3::routes(store))
}
