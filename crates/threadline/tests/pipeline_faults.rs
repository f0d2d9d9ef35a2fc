//! Faults in and around the export pipeline: late spans, dropped tracers, exporters that
//! panic, trace themselves or flush from inside, and timeouts too large to add.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use threadline::{
    BatchConfig, ExportError, Exporter, FlushError, InMemoryExporter, SpanData, Tracer,
};

const TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn spans_ending_after_shutdown_are_counted_as_dropped() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    drop(tracer.span("before"));
    tracer.shutdown(TIMEOUT).unwrap();
    drop(tracer.span("late"));
    let _ = tracer.flush(TIMEOUT);
    let stats = tracer.stats();
    assert_eq!(exporter.len(), 1);
    assert_eq!(stats.exported, 1, "{stats:?}");
    assert_eq!(stats.dropped, 1, "{stats:?}");
}

#[test]
fn dropping_the_last_tracer_delivers_what_it_finished() {
    let exporter = InMemoryExporter::default();
    let tracer = Tracer::builder()
        .batch_config(BatchConfig {
            scheduled_delay: Duration::from_secs(3600),
            ..BatchConfig::default()
        })
        .batch_exporter(exporter.clone())
        .build();
    drop(tracer.span("finished"));
    drop(tracer);
    assert_eq!(exporter.spans().len(), 1);
}

struct Panicking {
    calls: Arc<AtomicU64>,
}

impl Exporter for Panicking {
    fn export(&mut self, _batch: &[SpanData]) -> Result<(), ExportError> {
        if self.calls.fetch_add(1, Ordering::Relaxed) == 0 {
            panic!("backend client bug");
        }
        Ok(())
    }
}

#[test]
fn an_exporter_panic_fails_its_batch_and_the_pipeline_goes_on() {
    for batch in [false, true] {
        let calls = Arc::new(AtomicU64::new(0));
        let exporter = Panicking {
            calls: calls.clone(),
        };
        let builder = Tracer::builder();
        let tracer = if batch {
            builder.batch_exporter(exporter).build()
        } else {
            builder.simple_exporter(exporter).build()
        };
        drop(tracer.span("first"));
        tracer.flush(TIMEOUT).unwrap();
        drop(tracer.span("second"));
        tracer.flush(TIMEOUT).unwrap();
        let stats = tracer.stats();
        assert_eq!(stats.failed, 1, "batch={batch} {stats:?}");
        assert_eq!(stats.exported, 1, "batch={batch} {stats:?}");
        assert_eq!(calls.load(Ordering::Relaxed), 2);
    }
}

#[test]
fn timeouts_too_large_to_add_mean_no_deadline() {
    let exporter = InMemoryExporter::default();
    let tracer = Tracer::builder()
        .batch_config(BatchConfig {
            scheduled_delay: Duration::MAX,
            export_timeout: Duration::MAX,
            ..BatchConfig::default()
        })
        .batch_exporter(exporter.clone())
        .build();
    drop(tracer.span("x"));
    tracer.flush(Duration::MAX).unwrap();
    assert_eq!(exporter.len(), 1);
    tracer.shutdown(Duration::MAX).unwrap();
}

/// Traces its own work, as an exporter with an instrumented HTTP client would, and tries to
/// flush from inside.
struct SelfTracing {
    tracer: Tracer,
    exported: Arc<AtomicU64>,
    flush_result: Arc<std::sync::Mutex<Option<FlushError>>>,
}

impl Exporter for SelfTracing {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        self.exported
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let _request = self.tracer.span("POST /api/v2/spans");
        let _owned = self.tracer.span_builder("owned").start();
        if let Err(e) = threadline::flush(Duration::from_secs(1)) {
            *self.flush_result.lock().unwrap() = Some(e);
        }
        Ok(())
    }
}

#[test]
fn an_exporter_records_no_spans_and_cannot_flush_from_inside() {
    let exported = Arc::new(AtomicU64::new(0));
    let flush_result = Arc::new(std::sync::Mutex::new(None));
    let (inner, _) = Tracer::builder().in_memory();
    for batch in [false, true] {
        exported.store(0, Ordering::Relaxed);
        let exporter = SelfTracing {
            tracer: inner.clone(),
            exported: exported.clone(),
            flush_result: flush_result.clone(),
        };
        let builder = Tracer::builder();
        let tracer = if batch {
            builder.batch_exporter(exporter).build()
        } else {
            builder.simple_exporter(exporter).build()
        };
        drop(tracer.span("user"));
        tracer.flush(TIMEOUT).unwrap();
        tracer.flush(TIMEOUT).unwrap();
        assert_eq!(
            exported.load(Ordering::Relaxed),
            1,
            "batch={batch} {:?}",
            tracer.stats()
        );
        assert_eq!(
            flush_result.lock().unwrap().take(),
            Some(FlushError::Reentrant),
            "batch={batch}"
        );
    }
    inner.flush(TIMEOUT).unwrap();
    assert_eq!(inner.stats().exported, 0, "{:?}", inner.stats());
}
