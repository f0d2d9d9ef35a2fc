//! Export: the [`Exporter`] trait, the processors that call it, and the exporters that need
//! nothing beyond the standard library (console, file, in-memory).
//!
//! Network exporters (Zipkin, OTLP, Jaeger) live in the `threadline-export` crate.

pub mod console;
pub mod file;
pub mod memory;
pub(crate) mod processor;

use std::time::Duration;

use crate::data::SpanData;

pub use processor::BatchConfig;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The exporter was shut down.
    #[error("exporter is shut down")]
    Shutdown,
    /// The backend did not answer in time.
    #[error("export timed out after {0:?}")]
    Timeout(Duration),
    /// The backend could not be reached, or the connection failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The backend answered with an error and will not accept the batch as it is.
    #[error("backend rejected the batch: {0}")]
    Rejected(String),
    /// Local I/O failed (a file exporter's disk, a console's pipe).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The exporter panicked; the batch is counted as failed and the pipeline goes on.
    #[error("exporter panicked: {0}")]
    Panicked(String),
}

/// Why a flush or shutdown did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlushError {
    /// The deadline passed before the exporter finished.
    #[error("flush did not complete before the deadline")]
    Timeout,
    /// The pipeline was already shut down.
    #[error("the tracer is shut down")]
    Shutdown,
    /// The exporter reported an error while flushing.
    #[error("exporter failed while flushing: {0}")]
    Exporter(String),
    /// Called from inside an exporter or one of Threadline's threads, where waiting for the
    /// pipeline would wait for itself.
    #[error("flush called from inside the export pipeline; skipped")]
    Reentrant,
}

/// Sends finished spans somewhere.
///
/// # Contract
///
/// - Calls never overlap: `export`, `force_flush` and `shutdown` take `&mut self` and are made
///   from one thread at a time (the batch processor's worker, or the collector thread).
/// - A call must return in bounded time, whatever the backend does: an exporter that talks to
///   the network sets its own timeouts. A call that blocks stalls only the export thread; spans
///   keep being recorded and queue up to the configured bound, past which they are dropped and
///   counted.
/// - An exporter never panics on a backend's answer.
///
/// # Examples
///
/// ```
/// use threadline::{ExportError, Exporter, SpanData};
/// struct CountingExporter(usize);
/// impl Exporter for CountingExporter {
///     fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
///         self.0 += batch.len();
///         Ok(())
///     }
/// }
/// ```
pub trait Exporter: Send + 'static {
    /// Exports a batch of finished spans. The batch is borrowed: the processor reuses its
    /// buffer, so an exporter that keeps spans clones them.
    ///
    /// # Errors
    ///
    /// [`ExportError`] when the batch could not be delivered; its spans are counted as failed.
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError>;

    /// Delivers anything the exporter buffers itself.
    ///
    /// # Errors
    ///
    /// [`ExportError`] when buffered data could not be delivered.
    fn force_flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Flushes and releases resources; later exports may fail with [`ExportError::Shutdown`].
    ///
    /// # Errors
    ///
    /// [`ExportError`] when buffered data could not be delivered.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.force_flush()
    }
}

impl<E: Exporter + ?Sized> Exporter for Box<E> {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        (**self).export(batch)
    }
    fn force_flush(&mut self) -> Result<(), ExportError> {
        (**self).force_flush()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        (**self).shutdown()
    }
}

/// Discards every span; for benchmarks and for `OTEL_TRACES_EXPORTER=none`.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopExporter;

impl Exporter for NoopExporter {
    fn export(&mut self, _batch: &[SpanData]) -> Result<(), ExportError> {
        Ok(())
    }
}
