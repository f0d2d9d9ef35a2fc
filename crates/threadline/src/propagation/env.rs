//! `OTEL_PROPAGATORS`: choosing propagators by name.

use super::{
    B3Propagator, BaggagePropagator, BinaryPropagator, CloudTracePropagator, CompositePropagator,
    JaegerPropagator, Propagator, TraceContextPropagator,
};

/// The names `OTEL_PROPAGATORS` accepts (compared without regard to case). `cloudtrace`,
/// `gcp` and `gcp_trace` all mean [`CloudTracePropagator`]; `ocbinary` and `binary` mean
/// [`BinaryPropagator`]; `none` adds nothing.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{propagator_by_name, PROPAGATOR_NAMES};
/// assert!(PROPAGATOR_NAMES.iter().all(|name| propagator_by_name(name).is_some()));
/// ```
pub const PROPAGATOR_NAMES: &[&str] = &[
    "tracecontext",
    "baggage",
    "b3",
    "b3multi",
    "jaeger",
    "cloudtrace",
    "gcp",
    "gcp_trace",
    "ocbinary",
    "binary",
    "none",
];

const DEFAULT: &[&str] = &["tracecontext", "baggage"];

fn canonical(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "tracecontext" => "tracecontext",
        "baggage" => "baggage",
        "b3" => "b3",
        "b3multi" => "b3multi",
        "jaeger" => "jaeger",
        "cloudtrace" | "gcp" | "gcp_trace" => "cloudtrace",
        "ocbinary" | "binary" => "ocbinary",
        "none" => "none",
        _ => return None,
    })
}

/// The propagator an `OTEL_PROPAGATORS` name stands for; `None` for an unknown name. `none`
/// gives an empty [`CompositePropagator`].
///
/// # Examples
///
/// ```
/// use threadline::propagation::propagator_by_name;
/// assert_eq!(propagator_by_name("B3multi").unwrap().fields()[0], "x-b3-traceid");
/// assert_eq!(propagator_by_name("gcp").unwrap().fields(), ["x-cloud-trace-context"]);
/// assert!(propagator_by_name("xray").is_none());
/// ```
pub fn propagator_by_name(name: &str) -> Option<Box<dyn Propagator>> {
    Some(match canonical(name.trim())? {
        "tracecontext" => Box::new(TraceContextPropagator),
        "baggage" => Box::new(BaggagePropagator),
        "b3" => Box::new(B3Propagator::single()),
        "b3multi" => Box::new(B3Propagator::multi()),
        "jaeger" => Box::new(JaegerPropagator),
        "cloudtrace" => Box::new(CloudTracePropagator),
        "ocbinary" => Box::new(BinaryPropagator),
        _ => Box::new(CompositePropagator::new()),
    })
}

/// Reads an `OTEL_PROPAGATORS` value (`None` when unset or blank): the canonical names in
/// order, each once, without `none`; a warning for each unknown name.
pub(crate) fn parse_names(raw: Option<&str>, warnings: &mut Vec<String>) -> Vec<String> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return DEFAULT.iter().map(|n| n.to_string()).collect();
    };
    let mut names: Vec<String> = Vec::new();
    for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match canonical(name) {
            Some("none") => {}
            Some(known) => {
                if !names.iter().any(|n| n == known) {
                    names.push(known.to_string());
                }
            }
            None => warnings.push(format!(
                "invalid value in OTEL_PROPAGATORS: {name:?} (known: {}); ignoring it",
                PROPAGATOR_NAMES.join(", ")
            )),
        }
    }
    names
}

/// A composite of the named propagators (names as [`parse_names`] returns them).
pub(crate) fn composite_from_names(names: &[String]) -> CompositePropagator {
    let mut composite = CompositePropagator::new();
    for name in names {
        if let Some(propagator) = propagator_by_name(name) {
            composite.push(propagator);
        }
    }
    composite
}

/// The propagator `OTEL_PROPAGATORS` asks for, read through `lookup` (so tests need not touch
/// the process environment), with one warning per unknown name.
///
/// The value is a comma-separated list of [`PROPAGATOR_NAMES`]; unset or blank means
/// `tracecontext,baggage`; `none` alone means no propagation.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{propagator_from_lookup, Propagator};
/// let (propagator, warnings) = propagator_from_lookup(|name| {
///     (name == "OTEL_PROPAGATORS").then(|| "b3, jaeger, xray".to_string())
/// });
/// assert_eq!(propagator.fields(), ["b3", "uber-trace-id"]);
/// assert!(warnings[0].contains("\"xray\""));
/// ```
pub fn propagator_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> (CompositePropagator, Vec<String>) {
    let mut warnings = Vec::new();
    let names = parse_names(lookup("OTEL_PROPAGATORS").as_deref(), &mut warnings);
    (composite_from_names(&names), warnings)
}

/// The propagator the process's `OTEL_PROPAGATORS` asks for; unknown names are warned about
/// on standard error and skipped.
///
/// # Examples
///
/// ```
/// use threadline::propagation::{propagators_from_env, Propagator};
/// let propagator = propagators_from_env();
/// # if std::env::var_os("OTEL_PROPAGATORS").is_none() {
/// assert_eq!(propagator.fields(), ["traceparent", "tracestate", "baggage"]);
/// # }
/// ```
pub fn propagators_from_env() -> CompositePropagator {
    let (propagator, warnings) = propagator_from_lookup(|name| std::env::var(name).ok());
    for warning in warnings {
        crate::diag::warn(format_args!("{warning}"));
    }
    propagator
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: Option<&str>) -> (Vec<String>, Vec<String>) {
        let mut warnings = Vec::new();
        (parse_names(raw, &mut warnings), warnings)
    }

    #[test]
    fn names_are_canonical_deduplicated_and_unknowns_warned() {
        assert_eq!(names(None).0, ["tracecontext", "baggage"]);
        assert_eq!(names(Some("  ")).0, ["tracecontext", "baggage"]);
        assert!(names(Some("none")).0.is_empty());
        let (found, warnings) = names(Some("B3, gcp,cloudtrace, binary,,foo, none, jaeger"));
        assert_eq!(found, ["b3", "cloudtrace", "ocbinary", "jaeger"]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("invalid value in OTEL_PROPAGATORS: \"foo\""));
        assert!(warnings[0].ends_with("; ignoring it"));
    }

    #[test]
    fn every_listed_name_is_known() {
        for name in PROPAGATOR_NAMES {
            assert!(propagator_by_name(name).is_some(), "{name}");
        }
    }
}
