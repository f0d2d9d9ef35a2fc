//! The OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, with
//! gzip-compressed messages accepted, on a tonic server.
//!
//! A request whose spans were all read gets an empty `ExportTraceServiceResponse`. When some
//! spans were rejected the valid ones are stored and the response carries a partial success:
//! `rejected_spans` and an `error_message` naming each problem (a rejected resource counts as
//! one, as in the OTLP/HTTP receiver). A request with spans of which none could be read gets
//! `INVALID_ARGUMENT` naming the problems; a message over the size limit, as sent or once
//! decompressed, `RESOURCE_EXHAUSTED` without `RetryInfo` (so that it is not retried); and `RESOURCE_EXHAUSTED` with a `google.rpc.RetryInfo` when the server
//! has too many batches in flight. Every status comes from [`ApiError::into_grpc_status`].

use std::future::Future;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use threadline_wire::otlp::{self, RequestError};
use tokio::net::TcpListener;
use tonic::codec::CompressionEncoding;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

use crate::error::ApiError;
use crate::receive::{summarize, Intake};

/// The `TraceService` of the OTLP/gRPC receiver, appending through an [`Intake`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use threadline_server::receive::otlp_grpc::OtlpGrpc;
/// use threadline_server::receive::{Admission, Intake};
/// use threadline_server::store::MemoryStore;
///
/// let intake = Intake::new(Arc::new(MemoryStore::new(1000)), 1 << 20, Arc::default(), Admission::default());
/// let service = OtlpGrpc::new(intake).into_server();
/// ```
#[derive(Clone)]
pub struct OtlpGrpc {
    intake: Intake,
}

impl OtlpGrpc {
    /// The service appending through `intake`.
    pub fn new(intake: Intake) -> Self {
        OtlpGrpc { intake }
    }

    /// The tonic service: gzip accepted and used for answers to a gzip request, messages of
    /// at most the intake's body limit (compressed or not).
    pub fn into_server(self) -> TraceServiceServer<OtlpGrpc> {
        let limit = self.intake.max_body_bytes;
        TraceServiceServer::new(self)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip)
            .max_decoding_message_size(limit)
    }

    async fn store(
        &self,
        request: ExportTraceServiceRequest,
    ) -> Result<ExportTraceServiceResponse, ApiError> {
        let _permit = self.intake.admit()?;
        let decoded = otlp::from_request(request);
        if decoded.spans.is_empty() && !decoded.errors.is_empty() {
            let rejected = decoded.errors.len();
            self.intake.stats().count_spans(0, rejected);
            return Err(ApiError::BadRequest(format!(
                "no span could be read: {}",
                summarize(&decoded.errors)
            )));
        }
        let rejected = decoded
            .errors
            .iter()
            .filter(|e| matches!(e, RequestError::Span(_) | RequestError::Envelope(_)))
            .count();
        let message = summarize(&decoded.errors);
        self.intake.append(decoded.spans, rejected).await?;
        Ok(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: i64::try_from(rejected).unwrap_or(i64::MAX),
                error_message: message,
            }),
        })
    }
}

#[tonic::async_trait]
impl TraceService for OtlpGrpc {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        match self.store(request.into_inner()).await {
            Ok(response) => Ok(Response::new(response)),
            Err(error) => {
                self.intake.stats().count_failure(&error);
                Err(error.into_grpc_status())
            }
        }
    }
}

/// Serves the receiver on `listener` until `shutdown` completes, then answers the calls in
/// progress and returns.
///
/// # Errors
///
/// tonic's transport error when serving fails.
pub(crate) async fn serve(
    listener: TcpListener,
    intake: Intake,
    shutdown: impl Future<Output = ()>,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .layer(tower::util::MapResponseLayer::new(
            crate::error::oversized_grpc_message_is_resource_exhausted,
        ))
        .add_service(OtlpGrpc::new(intake).into_server())
        .serve_with_incoming_shutdown(TcpIncoming::from(listener), shutdown)
        .await
}
