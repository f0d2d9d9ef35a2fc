//! The OTLP/gRPC exporter against a fault-injecting gRPC backend: a real tonic server with
//! opentelemetry-proto's `TraceService`, answering what each test scripted (OK once the
//! script is empty). Retries, rejections, partial success, compression, metadata, a backend
//! that is down and comes back, and one that never answers.

#![cfg(feature = "grpc")]

mod support;

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use threadline::{ExportError, Exporter, SpanData, Tracer};
use threadline_export::otlp::DEFAULT_GRPC_ENDPOINT;
use threadline_export::{Compression, OtlpConfig, OtlpExporter, OtlpProtocol};
use threadline_wire::otlp;
use tonic::codec::CompressionEncoding;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use support::{collecting, dead_address, fast_retries, spans};

/// What the backend answers to one call.
enum Reply {
    Status(Status),
    Partial {
        rejected: i64,
        message: &'static str,
    },
    /// Never answers.
    Hang,
}

/// One call as the backend received it.
struct Received {
    metadata: MetadataMap,
    request: ExportTraceServiceRequest,
}

struct Scripted {
    script: Arc<Mutex<VecDeque<Reply>>>,
    calls: Mutex<Sender<Received>>,
}

#[tonic::async_trait]
impl TraceService for Scripted {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let reply = self.script.lock().unwrap().pop_front();
        let (metadata, _, request) = request.into_parts();
        let _ = self
            .calls
            .lock()
            .unwrap()
            .send(Received { metadata, request });
        match reply {
            None => Ok(Response::new(ExportTraceServiceResponse::default())),
            Some(Reply::Status(status)) => Err(status),
            Some(Reply::Partial { rejected, message }) => {
                Ok(Response::new(ExportTraceServiceResponse {
                    partial_success: Some(ExportTracePartialSuccess {
                        rejected_spans: rejected,
                        error_message: message.to_string(),
                    }),
                }))
            }
            Some(Reply::Hang) => std::future::pending().await,
        }
    }
}

struct Backend {
    addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Reply>>>,
    calls: Receiver<Received>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Backend {
    fn start(gzip: bool) -> Backend {
        Backend::serve(TcpListener::bind("127.0.0.1:0").expect("bind"), gzip)
    }

    /// A backend on a port known in advance (coming back where it was).
    fn start_at(addr: SocketAddr) -> Backend {
        Backend::serve(TcpListener::bind(addr).expect("rebind the port"), true)
    }

    /// The listener is bound before this returns, so calls made right after are queued by
    /// the kernel until the server accepts them.
    fn serve(listener: TcpListener, gzip: bool) -> Backend {
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let (tx, calls) = channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut service = TraceServiceServer::new(Scripted {
            script: script.clone(),
            calls: Mutex::new(tx),
        });
        if gzip {
            service = service
                .accept_compressed(CompressionEncoding::Gzip)
                .send_compressed(CompressionEncoding::Gzip);
        }
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let _ = tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Backend {
            addr,
            script,
            calls,
            stop: Some(stop),
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn reply(&self, reply: Reply) {
        self.script.lock().unwrap().push_back(reply);
    }

    /// The next call, waiting for it at most 5 s.
    fn next_call(&self) -> Received {
        self.calls
            .recv_timeout(Duration::from_secs(5))
            .expect("a call reached the backend")
    }

    /// Every call received so far, without waiting.
    fn received(&self) -> Vec<Received> {
        self.calls.try_iter().collect()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // The server thread ends on its own once open calls finish; nothing waits for it.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn config(endpoint: String) -> OtlpConfig {
    OtlpConfig {
        endpoint,
        protocol: OtlpProtocol::Grpc,
        timeout: Duration::from_secs(5),
        retry: fast_retries(),
        ..OtlpConfig::default()
    }
}

fn decoded(call: &Received) -> Vec<SpanData> {
    let decoded = otlp::from_request(call.request.clone());
    assert!(decoded.errors.is_empty(), "{:?}", decoded.errors);
    decoded.spans
}

#[test]
fn request_carries_the_spans_metadata_and_gzip() {
    let backend = Backend::start(true);
    let mut exporter = OtlpExporter::new(OtlpConfig {
        headers: vec![
            ("x-honeycomb-team".into(), "secret key".into()),
            ("x-honeycomb-dataset".into(), "quickstart".into()),
        ],
        compression: Compression::Gzip,
        ..config(backend.url())
    })
    .unwrap();
    assert_eq!(exporter.endpoint(), backend.url());
    let sent = spans();
    exporter.export(&sent).unwrap();

    let call = backend.next_call();
    assert_eq!(call.request, otlp::to_request(&sent));
    assert_eq!(decoded(&call), sent);
    assert_eq!(call.metadata.get("x-honeycomb-team").unwrap(), "secret key");
    assert_eq!(
        call.metadata.get("x-honeycomb-dataset").unwrap(),
        "quickstart"
    );
    let agent = call.metadata.get("user-agent").unwrap().to_str().unwrap();
    assert!(agent.starts_with("threadline-export/"), "{agent}");
    assert!(backend.received().is_empty(), "delivered more than once");
}

#[test]
fn gzip_really_is_on_the_wire() {
    // A server that does not accept gzip refuses the call with UNIMPLEMENTED, which is not
    // retried: the compressed request reached it.
    let backend = Backend::start(false);
    let (diagnostics, seen) = collecting();
    let mut gzip = OtlpExporter::new(OtlpConfig {
        compression: Compression::Gzip,
        diagnostics,
        ..config(backend.url())
    })
    .unwrap();
    let error = gzip.export(&spans()).unwrap_err();
    assert!(
        matches!(&error, ExportError::Rejected(m) if m.contains("UNIMPLEMENTED") && m.contains("gzip")),
        "{error:?}"
    );
    assert!(seen.lock().unwrap()[0].contains("UNIMPLEMENTED"));

    let mut plain = OtlpExporter::new(config(backend.url())).unwrap();
    plain.export(&spans()).unwrap();
    assert_eq!(decoded(&backend.next_call()).len(), 3);
}

#[test]
fn unavailable_is_retried_then_delivered_once() {
    let backend = Backend::start(true);
    backend.reply(Reply::Status(Status::unavailable("warming up")));
    backend.reply(Reply::Status(Status::aborted("conflict")));
    let mut exporter = OtlpExporter::new(config(backend.url())).unwrap();
    let sent = spans();
    exporter.export(&sent).unwrap();

    let calls = [
        backend.next_call(),
        backend.next_call(),
        backend.next_call(),
    ];
    for call in &calls {
        assert_eq!(decoded(call), sent);
    }
    assert!(backend.received().is_empty(), "delivered more than once");
}

#[test]
fn retryable_codes_until_the_timeout_fail_with_the_last_message() {
    let backend = Backend::start(true);
    for _ in 0..10_000 {
        backend.reply(Reply::Status(Status::unavailable("still down")));
    }
    let mut exporter = OtlpExporter::new(OtlpConfig {
        timeout: Duration::from_millis(300),
        ..config(backend.url())
    })
    .unwrap();
    let error = exporter.export(&spans()).unwrap_err();
    assert!(
        matches!(&error, ExportError::Transport(m) if m.contains("UNAVAILABLE") && m.contains("still down")),
        "{error:?}"
    );
    assert!(backend.received().len() > 1, "never retried");
}

#[test]
fn other_codes_are_not_retried_and_logged_once_per_code() {
    let backend = Backend::start(true);
    for _ in 0..2 {
        backend.reply(Reply::Status(Status::invalid_argument(
            "invalid span: trace_id is all zeros",
        )));
    }
    backend.reply(Reply::Status(Status::resource_exhausted("quota")));
    let (diagnostics, seen) = collecting();
    let mut exporter = OtlpExporter::new(OtlpConfig {
        diagnostics,
        ..config(backend.url())
    })
    .unwrap();
    for _ in 0..2 {
        match exporter.export(&spans()).unwrap_err() {
            ExportError::Rejected(m) => {
                assert!(m.contains("INVALID_ARGUMENT"), "{m}");
                assert!(m.contains("trace_id is all zeros"), "{m}");
            }
            other => panic!("expected Rejected, got {other:?}"),
        }
    }
    // Without RetryInfo, RESOURCE_EXHAUSTED is final too.
    assert!(
        matches!(exporter.export(&spans()), Err(ExportError::Rejected(m)) if m.contains("RESOURCE_EXHAUSTED"))
    );
    assert_eq!(backend.received().len(), 3, "a final code was retried");

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[0].contains("INVALID_ARGUMENT") && seen[0].contains("trace_id is all zeros"));
    assert!(seen[1].contains("RESOURCE_EXHAUSTED") && seen[1].contains("quota"));
}

#[test]
fn partial_success_is_counted_and_logged() {
    let backend = Backend::start(true);
    backend.reply(Reply::Partial {
        rejected: 2,
        message: "2 spans too old",
    });
    backend.reply(Reply::Partial {
        rejected: 1,
        message: "2 spans too old",
    });
    let (diagnostics, seen) = collecting();
    let mut exporter = OtlpExporter::new(OtlpConfig {
        diagnostics,
        ..config(backend.url())
    })
    .unwrap();
    exporter.export(&spans()).unwrap();
    exporter.export(&spans()).unwrap();
    assert_eq!(exporter.rejected_spans(), 3);
    assert_eq!(backend.received().len(), 2, "a partial success was retried");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].contains("rejected_spans = 2") && seen[0].contains("2 spans too old"));
}

#[test]
fn a_backend_that_never_answers_costs_one_timeout() {
    let backend = Backend::start(true);
    backend.reply(Reply::Hang);
    backend.reply(Reply::Hang);
    let timeout = Duration::from_millis(300);
    let mut exporter = OtlpExporter::new(OtlpConfig {
        timeout,
        ..config(backend.url())
    })
    .unwrap();
    let error = exporter.export(&spans()).unwrap_err();
    assert!(
        matches!(error, ExportError::Timeout(t) if t == timeout),
        "{error:?}"
    );
}

#[test]
fn connection_refused_is_a_transport_error() {
    let mut exporter = OtlpExporter::new(OtlpConfig {
        timeout: Duration::from_millis(300),
        ..config(format!("http://{}", dead_address()))
    })
    .unwrap();
    let error = exporter.export(&spans()).unwrap_err();
    assert!(
        matches!(&error, ExportError::Transport(m) if m.contains("cannot reach") && m.contains("UNAVAILABLE")),
        "{error:?}"
    );
}

#[test]
fn backend_down_at_start_then_back_then_refusing() {
    let addr = dead_address();
    let (diagnostics, seen) = collecting();
    let exporter = OtlpExporter::new(OtlpConfig {
        timeout: Duration::from_millis(300),
        diagnostics,
        ..config(format!("http://{addr}"))
    })
    .unwrap();
    let tracer = Tracer::builder()
        .service_name("comeback")
        .batch_exporter(exporter)
        .build();

    drop(tracer.span("while down"));
    // The flush completes (the exporter answered in bounded time); the span is counted failed.
    let _ = tracer.flush(Duration::from_secs(5));
    assert_eq!(tracer.stats().failed, 1);
    assert_eq!(tracer.stats().exported, 0);

    let backend = Backend::start_at(addr);
    backend.reply(Reply::Status(Status::unavailable("starting")));
    drop(tracer.span("after restart"));
    tracer.flush(Duration::from_secs(5)).unwrap();
    backend.next_call();
    let received = decoded(&backend.next_call());
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].name, "after restart");
    assert_eq!(tracer.stats().exported, 1);

    backend.reply(Reply::Status(Status::permission_denied("bad key")));
    drop(tracer.span("refused"));
    let _ = tracer.flush(Duration::from_secs(5));
    assert_eq!(backend.received().len(), 1, "PERMISSION_DENIED was retried");
    assert_eq!(tracer.stats().failed, 2);
    assert_eq!(tracer.stats().exported, 1);
    assert!(seen
        .lock()
        .unwrap()
        .iter()
        .any(|m| m.contains("PERMISSION_DENIED") && m.contains("bad key")));
    tracer.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn calling_from_inside_an_async_runtime_fails_without_panicking() {
    let mut exporter = OtlpExporter::new(config(format!("http://{}", dead_address()))).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let error = runtime
        .block_on(async { exporter.export(&spans()) })
        .unwrap_err();
    assert!(
        matches!(&error, ExportError::Transport(m) if m.contains("async runtime")),
        "{error:?}"
    );
    // Dropping the exporter inside a runtime does not panic either.
    runtime.block_on(async move { drop(exporter) });
}

#[test]
fn environment_selects_grpc() {
    let config = OtlpConfig::from_lookup(|name| {
        (name == "OTEL_EXPORTER_OTLP_PROTOCOL").then(|| "grpc".to_string())
    });
    assert_eq!(config.protocol, OtlpProtocol::Grpc);
    assert_eq!(config.endpoint, DEFAULT_GRPC_ENDPOINT);
    let exporter = OtlpExporter::new(config).unwrap();
    assert_eq!(exporter.protocol(), OtlpProtocol::Grpc);
}
