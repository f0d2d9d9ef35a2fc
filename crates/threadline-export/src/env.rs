//! Reading the exporters' `OTEL_EXPORTER_*` variables through a lookup function, with the same
//! warning style as `threadline::config`: an invalid value names the variable, the value and the
//! fallback, and never stops the program.

use std::time::Duration;

/// The same decoding as the core crate's `OTEL_RESOURCE_ATTRIBUTES`, for the exporters' headers.
pub(crate) use threadline::config::percent_decode;

/// The default timeout of one export, retries included (`OTEL_EXPORTER_*_TIMEOUT`).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(10_000);

pub(crate) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    pub(crate) warnings: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Reader {
            lookup,
            warnings: Vec::new(),
        }
    }

    /// A trimmed, non-empty value.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The first of `names` that is set, with its name: the signal-specific form goes first.
    pub(crate) fn first(&self, names: &[&'static str]) -> Option<(&'static str, String)> {
        names
            .iter()
            .find_map(|name| self.string(name).map(|v| (*name, v)))
    }

    pub(crate) fn invalid(
        &mut self,
        name: &str,
        value: &str,
        expected: &str,
        fallback: impl std::fmt::Display,
    ) {
        self.warnings.push(format!(
            "invalid value for {name}: {value:?} (expected {expected}); using {fallback}"
        ));
    }

    /// A timeout in milliseconds; 0 is refused because an export must be bounded.
    pub(crate) fn timeout(&mut self, names: &[&'static str]) -> Duration {
        let Some((name, value)) = self.first(names) else {
            return DEFAULT_TIMEOUT;
        };
        match value.parse::<u64>() {
            Ok(ms) if ms > 0 => Duration::from_millis(ms),
            _ => {
                self.invalid(
                    name,
                    &value,
                    "a positive number of milliseconds",
                    DEFAULT_TIMEOUT.as_millis(),
                );
                DEFAULT_TIMEOUT
            }
        }
    }

    /// An `http://` or `https://` URL, or `None` with a warning.
    pub(crate) fn url(&mut self, name: &str, value: &str, fallback: &str) -> Option<String> {
        if is_http_url(value) {
            Some(value.to_string())
        } else {
            self.invalid(name, value, "an http:// or https:// URL", fallback);
            None
        }
    }
}

pub(crate) fn is_http_url(value: &str) -> bool {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_urls() {
        assert!(is_http_url("http://localhost:9411/api/v2/spans"));
        assert!(is_http_url("https://api.honeycomb.io"));
        assert!(!is_http_url("localhost:4318"));
        assert!(!is_http_url("http://"));
        assert!(!is_http_url("ftp://x"));
    }
}
