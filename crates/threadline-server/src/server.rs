//! Binding the listeners and serving them until shutdown.
//!
//! Three listeners, as the all-in-one server has them: Zipkin (its receiver and its query API,
//! as Zipkin serves both on 9411), OTLP/HTTP (4318) and the query port (16686, the Zipkin query
//! API for now, with `/health` and `/metrics`).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::receive::{self, ReceiverStats, DEFAULT_MAX_BODY_BYTES};
use crate::store::SpanStore;
use crate::{ops, query};

/// Where the server listens and what it accepts.
///
/// # Examples
///
/// ```
/// use threadline_server::ServerConfig;
///
/// // every port picked by the system, as the tests do
/// let config = ServerConfig { zipkin_port: 0, otlp_http_port: 0, query_port: 0, ..ServerConfig::default() };
/// assert_eq!(config.bind.to_string(), "127.0.0.1");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address every listener binds.
    pub bind: IpAddr,
    /// The Zipkin port: `POST /api/v2/spans` and the Zipkin query API. 0 picks a free port.
    pub zipkin_port: u16,
    /// The OTLP/HTTP port: `POST /v1/traces`. 0 picks a free port.
    pub otlp_http_port: u16,
    /// The query port: the Zipkin query API. 0 picks a free port.
    pub query_port: u16,
    /// The largest request body accepted, compressed or once decompressed.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            zipkin_port: 9411,
            otlp_http_port: 4318,
            query_port: 16686,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not bind its address (in use, or not permitted).
    #[error("cannot listen on {address} for {listener}: {source}")]
    Bind {
        /// The listener, e.g. `zipkin http`.
        listener: &'static str,
        /// The address asked for.
        address: SocketAddr,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// A listener failed while serving.
    #[error("{listener} failed: {source}")]
    Serve {
        /// The listener.
        listener: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
}

struct Listener {
    name: &'static str,
    listener: TcpListener,
    router: Router,
}

/// A server whose listeners are bound, ready to [`run`](BoundServer::run).
///
/// Binding first lets a caller learn the actual addresses (port 0 picks one) before serving.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::store::MemoryStore;
/// use threadline_server::{BoundServer, ServerConfig};
///
/// # let runtime = tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap();
/// # runtime.block_on(async {
/// let config = ServerConfig { zipkin_port: 0, otlp_http_port: 0, query_port: 0, ..ServerConfig::default() };
/// let server = BoundServer::bind(&config, Arc::new(MemoryStore::new(1000))).await.unwrap();
/// assert_eq!(server.addresses().len(), 3);
/// // stop at once: the shutdown future is already complete
/// server.run(async {}).await.unwrap();
/// # });
/// ```
pub struct BoundServer {
    listeners: Vec<Listener>,
    receivers: Vec<(&'static str, Arc<ReceiverStats>)>,
}

impl BoundServer {
    /// Binds the Zipkin, OTLP/HTTP and query listeners, all sharing `store`.
    ///
    /// Must be called within a tokio runtime with I/O enabled.
    ///
    /// # Errors
    ///
    /// [`ServerError::Bind`] when an address cannot be bound.
    pub async fn bind(
        config: &ServerConfig,
        store: Arc<dyn SpanStore>,
    ) -> Result<Self, ServerError> {
        let limit = config.max_body_bytes;
        let zipkin_stats = Arc::new(ReceiverStats::default());
        let otlp_stats = Arc::new(ReceiverStats::default());
        let plan = [
            (
                "zipkin http",
                config.zipkin_port,
                receive::zipkin::routes(store.clone(), limit, zipkin_stats.clone())
                    .merge(query::zipkin::routes(store.clone())),
            ),
            (
                "otlp http",
                config.otlp_http_port,
                receive::otlp_http::routes(store.clone(), limit, otlp_stats.clone()),
            ),
            (
                "query http",
                config.query_port,
                ops::with_query_latency(query::routes(store.clone()).merge(ops::routes(
                    store.clone(),
                    vec![
                        ("zipkin http", zipkin_stats.clone()),
                        ("otlp http", otlp_stats.clone()),
                    ],
                ))),
            ),
        ];
        let mut listeners = Vec::with_capacity(plan.len());
        for (name, port, router) in plan {
            let address = SocketAddr::new(config.bind, port);
            let listener =
                TcpListener::bind(address)
                    .await
                    .map_err(|source| ServerError::Bind {
                        listener: name,
                        address,
                        source,
                    })?;
            listeners.push(Listener {
                name,
                listener,
                router,
            });
        }
        Ok(BoundServer {
            listeners,
            receivers: vec![("zipkin http", zipkin_stats), ("otlp http", otlp_stats)],
        })
    }

    /// Each receiver's name and counters; take them before [`run`](BoundServer::run) to read
    /// them while and after the server runs.
    pub fn receiver_stats(&self) -> Vec<(&'static str, Arc<ReceiverStats>)> {
        self.receivers.clone()
    }

    /// Each listener's name (`zipkin http`, `otlp http`, `query http`) and actual address.
    pub fn addresses(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|l| l.listener.local_addr().ok().map(|a| (l.name, a)))
            .collect()
    }

    /// Serves every listener until `shutdown` completes, then stops accepting connections
    /// and returns once the requests in progress are answered.
    ///
    /// # Errors
    ///
    /// [`ServerError::Serve`] when a listener fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let (stop, stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        let mut tasks = JoinSet::new();
        for Listener {
            name,
            listener,
            router,
        } in self.listeners
        {
            let mut stopped = stopped.clone();
            tasks.spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move {
                        // an error means the sender is gone: stop as well
                        let _ = stopped.wait_for(|stop| *stop).await;
                    })
                    .await
                    .map_err(|source| ServerError::Serve {
                        listener: name,
                        source,
                    })
            });
        }
        let on_signal = stop.clone();
        let watcher = tokio::spawn(async move {
            shutdown.await;
            let _ = on_signal.send(true);
        });
        let mut result = Ok(());
        while let Some(joined) = tasks.join_next().await {
            let failure = match joined {
                Ok(Ok(())) => continue,
                Ok(Err(error)) => error,
                Err(join_error) => ServerError::Serve {
                    listener: "server",
                    source: io::Error::other(join_error.to_string()),
                },
            };
            // one listener down takes the others down with it, gracefully
            let _ = stop.send(true);
            if result.is_ok() {
                result = Err(failure);
            }
        }
        watcher.abort();
        result
    }
}
