//! Configuration from the standard OpenTelemetry environment variables.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_SDK_DISABLED` | `true` records nothing | `false` |
//! | `OTEL_SERVICE_NAME` | `service.name` | `unknown_service:<program>` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `key=value,...`, values percent-encoded | none |
//! | `OTEL_TRACES_SAMPLER` | `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, `parentbased_always_off`, `parentbased_traceidratio` | `parentbased_always_on` |
//! | `OTEL_TRACES_SAMPLER_ARG` | the ratio for the ratio samplers | `1.0` |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, `b3`, `b3multi`, `jaeger`, `cloudtrace` (or `gcp`), `ocbinary` (or `binary`), `none`; see [`crate::propagation`] | `tracecontext,baggage` |
//! | `OTEL_TRACES_EXPORTER` | `console`, `file`, `none`, and those registered by exporter crates (`otlp`, `zipkin`, `jaeger`) | `console` |
//! | `THREADLINE_CONSOLE` | console format: `tree` or `json` | `tree` |
//! | `THREADLINE_FILE_PATH` | the file exporter's path | `threadline-spans.jsonl` |
//! | `OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT` | attributes per span (falls back to `OTEL_ATTRIBUTE_COUNT_LIMIT`) | 32 |
//! | `OTEL_SPAN_EVENT_COUNT_LIMIT` | annotations per span | 32 |
//! | `THREADLINE_SPAN_MESSAGE_EVENT_COUNT_LIMIT` | message events per span | 128 |
//! | `OTEL_SPAN_LINK_COUNT_LIMIT` | links per span | 32 |
//! | `OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT`, `OTEL_LINK_ATTRIBUTE_COUNT_LIMIT` | attributes per annotation, per link | 32 |
//! | `OTEL_BSP_SCHEDULE_DELAY` | milliseconds between exports | 5000 |
//! | `OTEL_BSP_EXPORT_TIMEOUT` | milliseconds an export may take | 30000 |
//! | `OTEL_BSP_MAX_QUEUE_SIZE` | spans queued at most | 2048 |
//! | `OTEL_BSP_MAX_EXPORT_BATCH_SIZE` | spans per export at most (not above the queue size) | 512 |
//! | `THREADLINE_SHUTDOWN_TIMEOUT` | milliseconds the `init` guard waits for the last export | 5000 |
//!
//! An invalid value never stops the program: it gets a warning on standard error naming the
//! variable, the value and the fallback used.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::export::console::ConsoleExporter;
use crate::export::file::FileExporter;
use crate::export::processor::BatchConfig;
use crate::export::{Exporter, NoopExporter};
use crate::limits::SpanLimits;
use crate::sampler::{
    AlwaysOffSampler, AlwaysOnSampler, ParentBasedSampler, ProbabilitySampler, Sampler,
};
use crate::tracer::TracerBuilder;
use crate::value::KeyValue;

/// Makes an exporter by name, for `OTEL_TRACES_EXPORTER`.
pub type ExporterFactory = fn() -> Result<Box<dyn Exporter>, String>;

static FACTORIES: Mutex<Vec<(&'static str, ExporterFactory)>> = Mutex::new(Vec::new());

/// Registers an exporter name for `OTEL_TRACES_EXPORTER`; exporter crates call this so that
/// the variable alone selects them. A later registration of a name replaces the earlier one.
pub fn register_exporter(name: &'static str, factory: ExporterFactory) {
    let mut factories = FACTORIES.lock().unwrap_or_else(|e| e.into_inner());
    factories.retain(|(n, _)| *n != name);
    factories.push((name, factory));
}

/// The configuration read from the environment, with the warnings its invalid values caused.
#[derive(Debug)]
pub struct EnvConfig {
    /// `OTEL_SDK_DISABLED`.
    pub disabled: bool,
    /// The service name.
    pub service_name: String,
    /// Other resource attributes.
    pub resource_attributes: Vec<KeyValue>,
    /// The sampler.
    pub sampler: Arc<dyn Sampler>,
    /// The exporter names, in order.
    pub exporters: Vec<String>,
    /// The propagator names from `OTEL_PROPAGATORS`, canonical (`gcp` reads as `cloudtrace`,
    /// `binary` as `ocbinary`), in order, each once, unknown names and `none` left out.
    pub propagators: Vec<String>,
    /// Span limits.
    pub limits: SpanLimits,
    /// Batch processor settings.
    pub batch: BatchConfig,
    /// One message per invalid value.
    pub warnings: Vec<String>,
}

impl EnvConfig {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        EnvConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut reader = Reader {
            lookup: &lookup,
            warnings: Vec::new(),
        };
        let disabled = reader.boolean("OTEL_SDK_DISABLED", false);
        let resource_attributes = reader.resource_attributes();
        let service_name = reader
            .string("OTEL_SERVICE_NAME")
            .or_else(|| {
                resource_attributes
                    .iter()
                    .find(|kv| kv.key == "service.name")
                    .map(|kv| kv.value.to_string())
            })
            .unwrap_or_else(default_service_name);
        let resource_attributes = resource_attributes
            .into_iter()
            .filter(|kv| kv.key != "service.name")
            .collect();
        let sampler = reader.sampler();
        let exporters = reader
            .string("OTEL_TRACES_EXPORTER")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_else(|| vec!["console".to_string()]);
        let raw_propagators = reader.string("OTEL_PROPAGATORS");
        let propagators =
            crate::propagation::parse_names(raw_propagators.as_deref(), &mut reader.warnings);
        let defaults = SpanLimits::default();
        let attribute_fallback = reader.count("OTEL_ATTRIBUTE_COUNT_LIMIT", defaults.attributes);
        let limits = SpanLimits {
            attributes: reader.count("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", attribute_fallback),
            annotations: reader.count("OTEL_SPAN_EVENT_COUNT_LIMIT", defaults.annotations),
            message_events: reader.count(
                "THREADLINE_SPAN_MESSAGE_EVENT_COUNT_LIMIT",
                defaults.message_events,
            ),
            links: reader.count("OTEL_SPAN_LINK_COUNT_LIMIT", defaults.links),
            attributes_per_annotation: reader.count(
                "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
                defaults.attributes_per_annotation,
            ),
            attributes_per_link: reader.count(
                "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
                defaults.attributes_per_link,
            ),
        };
        let b = BatchConfig::default();
        let mut batch = BatchConfig {
            scheduled_delay: reader.millis("OTEL_BSP_SCHEDULE_DELAY", b.scheduled_delay),
            export_timeout: reader.millis("OTEL_BSP_EXPORT_TIMEOUT", b.export_timeout),
            max_queue_size: reader.positive("OTEL_BSP_MAX_QUEUE_SIZE", b.max_queue_size),
            max_export_batch_size: reader
                .positive("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", b.max_export_batch_size),
        };
        if batch.max_export_batch_size > batch.max_queue_size {
            reader.warn(format!(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE ({}) is larger than OTEL_BSP_MAX_QUEUE_SIZE ({}); using {}",
                batch.max_export_batch_size, batch.max_queue_size, batch.max_queue_size
            ));
            batch.max_export_batch_size = batch.max_queue_size;
        }
        EnvConfig {
            disabled,
            service_name,
            resource_attributes,
            sampler,
            exporters,
            propagators,
            limits,
            batch,
            warnings: reader.warnings,
        }
    }

    /// A tracer builder with this configuration and its exporters attached (console, file,
    /// none, or registered names). Prints the warnings, including one for an exporter name
    /// nobody registered.
    pub fn into_builder(mut self) -> TracerBuilder {
        let mut builder = TracerBuilder::default()
            .service_name(self.service_name.clone())
            .limits(self.limits)
            .batch_config(self.batch)
            .shared_sampler(self.sampler.clone())
            .propagator(crate::propagation::composite_from_names(&self.propagators));
        for kv in std::mem::take(&mut self.resource_attributes) {
            builder = builder.resource_attribute(kv.key, kv.value);
        }
        if self.disabled {
            for warning in &self.warnings {
                crate::diag::warn(format_args!("{warning}"));
            }
            return builder.sampler(AlwaysOffSampler);
        }
        let mut exporters: Vec<Box<dyn Exporter>> = Vec::new();
        for name in &self.exporters {
            match make_exporter(name) {
                Ok(Some(exporter)) => exporters.push(exporter),
                Ok(None) => {}
                Err(message) => self.warnings.push(message),
            }
        }
        for warning in &self.warnings {
            crate::diag::warn(format_args!("{warning}"));
        }
        match exporters.len() {
            0 => builder.batch_exporter(NoopExporter),
            1 => builder.boxed_batch_exporter(exporters.pop().expect("one exporter")),
            _ => builder.batch_exporter(FanOut(exporters)),
        }
    }
}

fn make_exporter(name: &str) -> Result<Option<Box<dyn Exporter>>, String> {
    match name {
        "none" => Ok(None),
        "console" | "logging" => Ok(Some(Box::new(ConsoleExporter::default()))),
        "file" => {
            let path = std::env::var("THREADLINE_FILE_PATH")
                .unwrap_or_else(|_| "threadline-spans.jsonl".to_string());
            FileExporter::new(&path)
                .map(|e| Some(Box::new(e) as Box<dyn Exporter>))
                .map_err(|e| {
                    format!(
                        "cannot open THREADLINE_FILE_PATH {path:?}: {e}; spans will not be written"
                    )
                })
        }
        other => {
            let factory = FACTORIES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .find(|(n, _)| *n == other)
                .map(|(_, f)| *f);
            match factory {
                Some(factory) => factory()
                    .map(Some)
                    .map_err(|e| format!("cannot create the {other} exporter: {e}; spans will not be sent there")),
                None => Err(format!(
                    "invalid value in OTEL_TRACES_EXPORTER: {other:?} (known: console, file, none{}); ignoring it",
                    FACTORIES
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .iter()
                        .map(|(n, _)| format!(", {n}"))
                        .collect::<String>()
                )),
            }
        }
    }
}

/// Sends every batch to several exporters.
struct FanOut(Vec<Box<dyn Exporter>>);

impl FanOut {
    /// Runs `op` on every exporter, the rest too after one fails; the last error is returned.
    fn each(
        &mut self,
        mut op: impl FnMut(&mut dyn Exporter) -> Result<(), crate::ExportError>,
    ) -> Result<(), crate::ExportError> {
        let mut result = Ok(());
        for exporter in &mut self.0 {
            if let Err(e) = op(exporter.as_mut()) {
                result = Err(e);
            }
        }
        result
    }
}

impl Exporter for FanOut {
    fn export(&mut self, batch: &[crate::SpanData]) -> Result<(), crate::ExportError> {
        self.each(|exporter| exporter.export(batch))
    }
    fn force_flush(&mut self) -> Result<(), crate::ExportError> {
        self.each(|exporter| exporter.force_flush())
    }
    fn shutdown(&mut self) -> Result<(), crate::ExportError> {
        self.each(|exporter| exporter.shutdown())
    }
}

impl TracerBuilder {
    /// A builder configured from the `OTEL_*` variables (see [`crate::config`]), with the
    /// exporters they name attached.
    pub fn from_env() -> TracerBuilder {
        EnvConfig::from_env().into_builder()
    }
}

fn default_service_name() -> String {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    if program.is_empty() {
        "unknown_service".to_string()
    } else {
        format!("unknown_service:{program}")
    }
}

/// Reads a millisecond duration variable, warning and falling back on a bad value.
pub(crate) fn duration_ms_var(name: &str, default: Duration) -> Duration {
    let lookup = |n: &str| std::env::var(n).ok();
    let mut reader = Reader {
        lookup: &lookup,
        warnings: Vec::new(),
    };
    let value = reader.millis(name, default);
    for warning in reader.warnings {
        crate::diag::warn(format_args!("{warning}"));
    }
    value
}

struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<String>,
}

impl Reader<'_> {
    fn warn(&mut self, message: String) {
        self.warnings.push(message);
    }

    fn string(&mut self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn invalid(
        &mut self,
        name: &str,
        value: &str,
        expected: &str,
        fallback: impl std::fmt::Display,
    ) {
        self.warn(format!(
            "invalid value for {name}: {value:?} (expected {expected}); using {fallback}"
        ));
    }

    fn boolean(&mut self, name: &str, default: bool) -> bool {
        match self.string(name) {
            None => default,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(v) => {
                self.invalid(name, &v, "true or false", default);
                default
            }
        }
    }

    fn count(&mut self, name: &str, default: u32) -> u32 {
        match self.string(name) {
            None => default,
            Some(v) => match v.parse::<u32>() {
                Ok(n) => n,
                Err(_) => {
                    self.invalid(name, &v, "a non-negative integer", default);
                    default
                }
            },
        }
    }

    fn positive(&mut self, name: &str, default: usize) -> usize {
        match self.string(name) {
            None => default,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    self.invalid(name, &v, "a positive integer", default);
                    default
                }
            },
        }
    }

    fn millis(&mut self, name: &str, default: Duration) -> Duration {
        match self.string(name) {
            None => default,
            Some(v) => match v.parse::<u64>() {
                Ok(ms) => Duration::from_millis(ms),
                Err(_) => {
                    self.invalid(
                        name,
                        &v,
                        "milliseconds as a non-negative integer",
                        default.as_millis(),
                    );
                    default
                }
            },
        }
    }

    fn resource_attributes(&mut self) -> Vec<KeyValue> {
        let Some(raw) = self.string("OTEL_RESOURCE_ATTRIBUTES") else {
            return Vec::new();
        };
        let mut out: Vec<KeyValue> = Vec::new();
        for member in raw.split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let parsed = member
                .split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .filter(|(k, _)| !k.is_empty())
                .and_then(|(k, v)| Some((percent_decode(k)?, percent_decode(v)?)));
            match parsed {
                Some((key, value)) => {
                    out.retain(|kv| kv.key != key.as_str());
                    out.push(KeyValue::new(key, value));
                }
                None => self.warn(format!(
                    "invalid member of OTEL_RESOURCE_ATTRIBUTES: {member:?} (expected key=value with percent-encoded value); ignoring it"
                )),
            }
        }
        out
    }

    fn sampler(&mut self) -> Arc<dyn Sampler> {
        let name = self
            .string("OTEL_TRACES_SAMPLER")
            .map(|s| s.to_ascii_lowercase());
        let ratio = |reader: &mut Self| -> f64 {
            match reader.string("OTEL_TRACES_SAMPLER_ARG") {
                None => 1.0,
                Some(v) => match v.parse::<f64>() {
                    Ok(r) if (0.0..=1.0).contains(&r) => r,
                    _ => {
                        reader.invalid("OTEL_TRACES_SAMPLER_ARG", &v, "a number from 0 to 1", 1.0);
                        1.0
                    }
                },
            }
        };
        match name.as_deref() {
            None | Some("parentbased_always_on") => {
                Arc::new(ParentBasedSampler::new(AlwaysOnSampler))
            }
            Some("always_on") => Arc::new(AlwaysOnSampler),
            Some("always_off") => Arc::new(AlwaysOffSampler),
            Some("parentbased_always_off") => Arc::new(ParentBasedSampler::new(AlwaysOffSampler)),
            Some("traceidratio") => Arc::new(ProbabilitySampler::new(ratio(self))),
            Some("parentbased_traceidratio") => Arc::new(ParentBasedSampler::new(
                ProbabilitySampler::new(ratio(self)),
            )),
            Some(other) => {
                let other = other.to_string();
                self.invalid(
                    "OTEL_TRACES_SAMPLER",
                    &other,
                    "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio",
                    "parentbased_always_on",
                );
                Arc::new(ParentBasedSampler::new(AlwaysOnSampler))
            }
        }
    }
}

/// Decodes the `%XX` escapes of a percent-encoded value, as `OTEL_RESOURCE_ATTRIBUTES`,
/// `OTEL_EXPORTER_OTLP_HEADERS` and the baggage headers carry them.
///
/// Each `%` must be followed by two hex digits (either case); every other byte is kept as it
/// is, `+` included. Exporter crates use it for their own variables, so that every value is
/// decoded alike.
///
/// Returns `None` for a `%` not followed by two hex digits, or when the decoded bytes are not
/// UTF-8.
///
/// # Examples
///
/// ```
/// use threadline::config::percent_decode;
/// assert_eq!(percent_decode("dev%20box").as_deref(), Some("dev box"));
/// assert_eq!(percent_decode("a+b").as_deref(), Some("a+b"));
/// assert_eq!(percent_decode("%zz"), None);
/// assert_eq!(percent_decode("%ff"), None);
/// ```
pub fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hi = crate::id::hex_value(*bytes.get(i + 1)?)?;
            let lo = crate::id::hex_value(*bytes.get(i + 2)?)?;
            out.push((hi << 4) | lo);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Reads a set of variables from a map; for tests and tools.
pub fn lookup_from(map: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |name| map.get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> EnvConfig {
        let map = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvConfig::from_lookup(lookup_from(map))
    }

    #[test]
    fn fan_out_reaches_every_exporter_and_returns_the_last_error() {
        use crate::{ExportError, InMemoryExporter, SpanData, SpanId, TraceId};
        struct Failing(&'static str);
        impl Exporter for Failing {
            fn export(&mut self, _: &[SpanData]) -> Result<(), ExportError> {
                Err(ExportError::Rejected(self.0.into()))
            }
        }
        let (first, last) = (InMemoryExporter::default(), InMemoryExporter::default());
        let mut fan_out = FanOut(vec![
            Box::new(first.clone()),
            Box::new(Failing("a")),
            Box::new(Failing("b")),
            Box::new(last.clone()),
        ]);
        let batch = [SpanData::new(TraceId(1), SpanId(1), "op")];
        assert!(matches!(fan_out.export(&batch), Err(ExportError::Rejected(m)) if m == "b"));
        assert_eq!((first.len(), last.len()), (1, 1));
        assert!(fan_out.force_flush().is_ok());
        assert!(fan_out.shutdown().is_ok());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%3Dc").as_deref(), Some("a b=c"));
        assert_eq!(percent_decode("%C3%A9 %e2%98%83").as_deref(), Some("é ☃"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%+1"), None);
        assert_eq!(percent_decode("%é"), None);
        assert_eq!(percent_decode("%ff"), None);
    }

    #[test]
    fn defaults_without_variables() {
        let c = config(&[]);
        assert!(!c.disabled);
        assert!(c.service_name.starts_with("unknown_service"));
        assert_eq!(c.exporters, vec!["console"]);
        assert_eq!(c.limits, SpanLimits::default());
        assert_eq!(c.batch, BatchConfig::default());
        assert_eq!(c.sampler.description(), "ParentBased{root:AlwaysOnSampler}");
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn reads_valid_values() {
        let c = config(&[
            ("OTEL_SERVICE_NAME", "addsubtract"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.version=1.2,deployment.environment=dev%20box",
            ),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0.25"),
            ("OTEL_TRACES_EXPORTER", "console, none"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "8"),
            ("OTEL_SPAN_EVENT_COUNT_LIMIT", "4"),
            ("OTEL_SPAN_LINK_COUNT_LIMIT", "2"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
        ]);
        assert_eq!(c.service_name, "addsubtract");
        assert_eq!(c.resource_attributes.len(), 2);
        assert_eq!(c.resource_attributes[1].value.to_string(), "dev box");
        assert_eq!(c.sampler.description(), "TraceIdRatioBased{0.25}");
        assert_eq!(c.exporters, vec!["console", "none"]);
        assert_eq!(c.limits.attributes, 8);
        assert_eq!(c.limits.annotations, 4);
        assert_eq!(c.limits.links, 2);
        assert_eq!(c.batch.max_queue_size, 100);
        assert_eq!(c.batch.max_export_batch_size, 10);
        assert_eq!(c.batch.scheduled_delay, Duration::from_millis(250));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn bad_values_warn_and_fall_back() {
        let c = config(&[
            ("OTEL_SDK_DISABLED", "maybe"),
            ("OTEL_TRACES_SAMPLER", "sometimes"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "-3"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "0"),
            ("OTEL_BSP_SCHEDULE_DELAY", "5s"),
            ("OTEL_RESOURCE_ATTRIBUTES", "ok=1,broken,bad=%zz"),
        ]);
        assert!(!c.disabled);
        assert_eq!(c.sampler.description(), "ParentBased{root:AlwaysOnSampler}");
        assert_eq!(c.limits.attributes, 32);
        assert_eq!(c.batch.max_queue_size, 2048);
        assert_eq!(c.batch.scheduled_delay, Duration::from_millis(5000));
        assert_eq!(c.resource_attributes, vec![KeyValue::new("ok", "1")]);
        let all = c.warnings.join("\n");
        for name in [
            "OTEL_SDK_DISABLED",
            "OTEL_TRACES_SAMPLER",
            "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
            "OTEL_BSP_MAX_QUEUE_SIZE",
            "OTEL_BSP_SCHEDULE_DELAY",
            "\"broken\"",
            "\"bad=%zz\"",
        ] {
            assert!(all.contains(name), "no warning names {name}: {all}");
        }
        assert!(all.contains("using parentbased_always_on"));
        assert_eq!(c.warnings.len(), 7, "{all}");
    }

    #[test]
    fn sampler_arg_out_of_range_falls_back_to_one() {
        let c = config(&[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ]);
        assert_eq!(
            c.sampler.description(),
            "ParentBased{root:TraceIdRatioBased{1}}"
        );
        assert!(c.warnings[0].contains("OTEL_TRACES_SAMPLER_ARG"));
    }

    #[test]
    fn batch_size_above_queue_is_clamped() {
        let c = config(&[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "10"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "20"),
        ]);
        assert_eq!(c.batch.max_export_batch_size, 10);
        assert_eq!(c.warnings.len(), 1);
    }

    #[test]
    fn unknown_exporter_is_reported_by_name() {
        let message = make_exporter("carrier-pigeon").err().unwrap();
        assert!(message.contains("OTEL_TRACES_EXPORTER"));
        assert!(message.contains("carrier-pigeon"));
    }
}
