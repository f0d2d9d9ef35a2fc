//! An exporter that keeps spans in memory, for tests.

use std::sync::{Arc, Mutex, MutexGuard};

use crate::data::SpanData;
use crate::export::{ExportError, Exporter};

/// Keeps every exported span in a shared list. Clones share the list.
///
/// # Examples
///
/// ```
/// let (tracer, spans) = threadline::Tracer::builder().in_memory();
/// drop(tracer.span("x"));
/// tracer.flush(std::time::Duration::from_secs(5)).unwrap();
/// assert_eq!(spans.spans()[0].name, "x");
/// ```
#[derive(Clone, Default, Debug)]
pub struct InMemoryExporter {
    spans: Arc<Mutex<Vec<SpanData>>>,
}

impl InMemoryExporter {
    fn lock(&self) -> MutexGuard<'_, Vec<SpanData>> {
        self.spans.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the spans exported so far, in export order.
    pub fn spans(&self) -> Vec<SpanData> {
        self.lock().clone()
    }

    /// Takes the spans exported so far, leaving the list empty.
    pub fn take(&self) -> Vec<SpanData> {
        std::mem::take(&mut *self.lock())
    }

    /// How many spans were exported.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no span was exported.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

impl Exporter for InMemoryExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        self.lock().extend_from_slice(batch);
        Ok(())
    }
}
