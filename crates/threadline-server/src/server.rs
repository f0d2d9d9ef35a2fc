//! Binding the listeners and serving them until shutdown.
//!
//! The listeners of the all-in-one server: Zipkin (its receiver and its query API, as Zipkin
//! serves both on 9411), OTLP over HTTP (4318) and gRPC (4317), the Jaeger agent's UDP ports
//! (6831 compact, 6832 binary), the Jaeger collector's HTTP port (14268), and the query port
//! (16686, the Zipkin query API for now, with `/health` and `/metrics`). Every receiver shares
//! one [`Admission`], the bound on batches in flight.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::receive::jaeger_udp::{self, Protocol};
use crate::receive::{
    self, Admission, Intake, ReceiverStats, DEFAULT_MAX_BATCHES_IN_FLIGHT, DEFAULT_MAX_BODY_BYTES,
};
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
/// let config = ServerConfig::any_port();
/// assert_eq!(config.bind.to_string(), "127.0.0.1");
/// assert_eq!(config.jaeger_compact_port, 0);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The address every listener binds.
    pub bind: IpAddr,
    /// The Zipkin port: `POST /api/v2/spans` and the Zipkin query API. 0 picks a free port.
    pub zipkin_port: u16,
    /// The OTLP/HTTP port: `POST /v1/traces`. 0 picks a free port.
    pub otlp_http_port: u16,
    /// The OTLP/gRPC port: `TraceService/Export`. 0 picks a free port.
    pub otlp_grpc_port: u16,
    /// The Jaeger agent's UDP port for Thrift compact `emitBatch`. 0 picks a free port.
    pub jaeger_compact_port: u16,
    /// The Jaeger agent's UDP port for Thrift binary `emitBatch`. 0 picks a free port.
    pub jaeger_binary_port: u16,
    /// The Jaeger collector's HTTP port: `POST /api/traces`. 0 picks a free port.
    pub jaeger_http_port: u16,
    /// The query port: the Zipkin query API. 0 picks a free port.
    pub query_port: u16,
    /// The largest request body accepted, compressed or once decompressed (and the largest
    /// gRPC message).
    pub max_body_bytes: usize,
    /// How many batches (requests, calls, datagrams) all receivers together decode and store
    /// at once; past it they are refused (429, `RESOURCE_EXHAUSTED`, dropped datagrams).
    pub max_batches_in_flight: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            zipkin_port: 9411,
            otlp_http_port: 4318,
            otlp_grpc_port: 4317,
            jaeger_compact_port: 6831,
            jaeger_binary_port: 6832,
            jaeger_http_port: 14268,
            query_port: 16686,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batches_in_flight: DEFAULT_MAX_BATCHES_IN_FLIGHT,
        }
    }
}

impl ServerConfig {
    /// The defaults with every port 0, so that each listener gets a free port (for tests).
    pub fn any_port() -> Self {
        ServerConfig {
            zipkin_port: 0,
            otlp_http_port: 0,
            otlp_grpc_port: 0,
            jaeger_compact_port: 0,
            jaeger_binary_port: 0,
            jaeger_http_port: 0,
            query_port: 0,
            ..ServerConfig::default()
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

/// A bound listener and what it serves.
struct Listener {
    name: &'static str,
    kind: ListenerKind,
}

enum ListenerKind {
    Http(TcpListener, Router),
    Grpc(TcpListener, Intake),
    Udp(UdpSocket, Protocol, Intake),
}

impl Listener {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        match &self.kind {
            ListenerKind::Http(listener, _) | ListenerKind::Grpc(listener, _) => {
                listener.local_addr()
            }
            ListenerKind::Udp(socket, _, _) => socket.local_addr(),
        }
    }

    /// Serves until `stopped` turns true, then finishes the work in progress.
    async fn serve(self, stopped: watch::Receiver<bool>) -> Result<(), ServerError> {
        let name = self.name;
        let failed = |source| ServerError::Serve {
            listener: name,
            source,
        };
        let stop = {
            let mut stopped = stopped.clone();
            async move {
                // an error means the sender is gone: stop as well
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        match self.kind {
            ListenerKind::Http(listener, router) => axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
                .map_err(failed),
            ListenerKind::Grpc(listener, intake) => {
                receive::otlp_grpc::serve(listener, intake, stop)
                    .await
                    .map_err(|e| failed(io::Error::other(e)))
            }
            ListenerKind::Udp(socket, protocol, intake) => {
                jaeger_udp::serve(socket, protocol, intake, stopped)
                    .await
                    .map_err(failed)
            }
        }
    }
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
/// let server = BoundServer::bind(&ServerConfig::any_port(), Arc::new(MemoryStore::new(1000)))
///     .await
///     .unwrap();
/// assert_eq!(server.addresses().len(), 7);
/// // stop at once: the shutdown future is already complete
/// server.run(async {}).await.unwrap();
/// # });
/// ```
pub struct BoundServer {
    listeners: Vec<Listener>,
    receivers: Vec<(&'static str, Arc<ReceiverStats>)>,
}

impl BoundServer {
    /// Binds every listener (see [`addresses`](BoundServer::addresses)), all sharing
    /// `store` and one [`Admission`] of `config.max_batches_in_flight`.
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
        let admission = Admission::new(config.max_batches_in_flight);
        let mut receivers = Vec::new();
        let mut intake = |name: &'static str| {
            let stats = Arc::new(ReceiverStats::default());
            receivers.push((name, stats.clone()));
            Intake::new(
                store.clone(),
                config.max_body_bytes,
                stats,
                admission.clone(),
            )
        };
        let zipkin = intake("zipkin http");
        let otlp_http = intake("otlp http");
        let otlp_grpc = intake("otlp grpc");
        let jaeger_compact = intake("jaeger compact udp");
        let jaeger_binary = intake("jaeger binary udp");
        let jaeger_http = intake("jaeger http");
        let http = [
            (
                "zipkin http",
                config.zipkin_port,
                receive::zipkin::routes(zipkin).merge(query::zipkin::routes(store.clone())),
            ),
            (
                "otlp http",
                config.otlp_http_port,
                receive::otlp_http::routes(otlp_http),
            ),
            (
                "jaeger http",
                config.jaeger_http_port,
                receive::jaeger_http::routes(jaeger_http),
            ),
            (
                "query http",
                config.query_port,
                ops::with_query_latency(
                    query::routes(store.clone())
                        .merge(ops::routes(store.clone(), receivers.clone())),
                ),
            ),
        ];
        let mut listeners = Vec::with_capacity(http.len() + 3);
        for (name, port, router) in http {
            let listener = bind_tcp(name, config.bind, port).await?;
            listeners.push(Listener {
                name,
                kind: ListenerKind::Http(listener, router),
            });
        }
        let name = "otlp grpc";
        listeners.push(Listener {
            name,
            kind: ListenerKind::Grpc(
                bind_tcp(name, config.bind, config.otlp_grpc_port).await?,
                otlp_grpc,
            ),
        });
        for (name, port, protocol, intake) in [
            (
                "jaeger compact udp",
                config.jaeger_compact_port,
                Protocol::Compact,
                jaeger_compact,
            ),
            (
                "jaeger binary udp",
                config.jaeger_binary_port,
                Protocol::Binary,
                jaeger_binary,
            ),
        ] {
            let address = SocketAddr::new(config.bind, port);
            let socket = UdpSocket::bind(address)
                .await
                .map_err(|source| ServerError::Bind {
                    listener: name,
                    address,
                    source,
                })?;
            listeners.push(Listener {
                name,
                kind: ListenerKind::Udp(socket, protocol, intake),
            });
        }
        Ok(BoundServer {
            listeners,
            receivers,
        })
    }

    /// Each receiver's name and counters; take them before [`run`](BoundServer::run) to read
    /// them while and after the server runs.
    pub fn receiver_stats(&self) -> Vec<(&'static str, Arc<ReceiverStats>)> {
        self.receivers.clone()
    }

    /// Each listener's name and actual address: `zipkin http`, `otlp http`, `jaeger http`,
    /// `query http`, `otlp grpc`, `jaeger compact udp`, `jaeger binary udp`.
    pub fn addresses(&self) -> Vec<(&'static str, SocketAddr)> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok().map(|a| (l.name, a)))
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
        for listener in self.listeners {
            tasks.spawn(listener.serve(stopped.clone()));
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

async fn bind_tcp(name: &'static str, ip: IpAddr, port: u16) -> Result<TcpListener, ServerError> {
    let address = SocketAddr::new(ip, port);
    TcpListener::bind(address)
        .await
        .map_err(|source| ServerError::Bind {
            listener: name,
            address,
            source,
        })
}
