//! Carriers: where propagators write and read header values.
//!
//! HTTP header names are case-insensitive, so carriers are too: [`Injector::set`] on a
//! `HashMap<String, String>` stores the key lowercased (as OpenTelemetry does), and
//! [`Extractor::get`] finds a key whatever its case. Propagators always ask for lowercase
//! names.

use std::collections::HashMap;

/// Somewhere a propagator writes header values: a request's headers, a message's metadata.
///
/// HTTP header names are case-insensitive; propagators always write lowercase names, and
/// `HashMap<String, String>` stores keys lowercased (as OpenTelemetry does). With the `http`
/// feature, `http::HeaderMap` is a carrier too.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::Injector;
/// let mut headers = HashMap::new();
/// headers.set("X-B3-TraceId", "80f198ee56343ba864fe8b2a57d3eff7".to_string());
/// assert!(headers.contains_key("x-b3-traceid"));
/// ```
pub trait Injector {
    /// Sets `key` to `value`, replacing an earlier value.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use threadline::propagation::Injector;
    /// let mut headers = HashMap::new();
    /// headers.set("b3", "0".to_string());
    /// headers.set("B3", "1".to_string());
    /// assert_eq!(headers["b3"], "1");
    /// ```
    fn set(&mut self, key: &str, value: String);
}

/// Somewhere a propagator reads header values from.
///
/// Lookups ignore ASCII case, as HTTP header names do: on a `HashMap<String, String>` a key
/// stored as `X-B3-TraceId` is found for `x-b3-traceid`. With the `http` feature,
/// `http::HeaderMap` is a carrier too (it returns the first value of a repeated header).
///
/// On a `HashMap`, the map's own `get` shadows this one: call `Extractor::get(&map, key)`.
///
/// # Examples
///
/// ```
/// use std::collections::HashMap;
/// use threadline::propagation::Extractor;
/// let headers = HashMap::from([("Traceparent".to_string(), "x".to_string())]);
/// assert_eq!(Extractor::get(&headers, "traceparent"), Some("x"));
/// assert_eq!(Extractor::keys(&headers), ["Traceparent"]);
/// ```
pub trait Extractor {
    /// The value of `key`, compared without regard to ASCII case.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use threadline::propagation::Extractor;
    /// let headers = HashMap::from([("X-B3-Sampled".to_string(), "1".to_string())]);
    /// assert_eq!(Extractor::get(&headers, "x-b3-sampled"), Some("1"));
    /// ```
    fn get(&self, key: &str) -> Option<&str>;

    /// All keys, as stored.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::collections::HashMap;
    /// use threadline::propagation::Extractor;
    /// let headers = HashMap::from([("uberctx-user".to_string(), "ada".to_string())]);
    /// assert_eq!(Extractor::keys(&headers), ["uberctx-user"]);
    /// ```
    fn keys(&self) -> Vec<&str>;
}

impl<S: std::hash::BuildHasher> Injector for HashMap<String, String, S> {
    fn set(&mut self, key: &str, value: String) {
        self.insert(key.to_ascii_lowercase(), value);
    }
}

impl<S: std::hash::BuildHasher> Extractor for HashMap<String, String, S> {
    fn get(&self, key: &str) -> Option<&str> {
        let exact = if key.bytes().any(|b| b.is_ascii_uppercase()) {
            HashMap::get(self, key.to_ascii_lowercase().as_str())
        } else {
            HashMap::get(self, key)
        };
        // Maps filled by hand may keep the sender's spelling ("X-B3-TraceId").
        exact
            .or_else(|| {
                self.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .map(String::as_str)
    }

    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

/// Writes into an `http::HeaderMap`; a name or value that is not valid in a header is
/// skipped, with the reason printed at debug level.
///
/// ```
/// # #[cfg(feature = "http")] {
/// let _tracing = threadline::init_with(threadline::Tracer::builder().in_memory().0);
/// let _span = threadline::span("outgoing");
/// let mut headers = http::HeaderMap::new();
/// threadline::propagation::inject_current(&mut headers);
/// assert!(headers.contains_key("traceparent"));
/// # }
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Injector for http::HeaderMap {
    fn set(&mut self, key: &str, value: String) {
        let name = match http::header::HeaderName::from_bytes(key.as_bytes()) {
            Ok(name) => name,
            Err(error) => {
                crate::diag::debug(format_args!(
                    "not injecting header, name = {key:?}, error = {error}"
                ));
                return;
            }
        };
        match http::header::HeaderValue::from_str(&value) {
            Ok(value) => {
                self.insert(name, value);
            }
            Err(error) => crate::diag::debug(format_args!(
                "not injecting header, name = {key:?}, error = {error}"
            )),
        }
    }
}

/// Reads from an `http::HeaderMap`: the first value of a header, when it is visible ASCII.
///
/// ```
/// # #[cfg(feature = "http")] {
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// let cx = threadline::propagation::extract(&headers);
/// assert!(cx.span_context.unwrap().is_sampled());
/// # }
/// ```
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
impl Extractor for http::HeaderMap {
    fn get(&self, key: &str) -> Option<&str> {
        http::HeaderMap::get(self, key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        http::HeaderMap::keys(self)
            .map(http::header::HeaderName::as_str)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_map_is_case_insensitive() {
        let mut map: HashMap<String, String> = HashMap::new();
        map.set("X-Cloud-Trace-Context", "a".into());
        assert_eq!(Extractor::get(&map, "x-cloud-trace-context"), Some("a"));
        assert_eq!(Extractor::get(&map, "X-CLOUD-TRACE-CONTEXT"), Some("a"));
        let by_hand = HashMap::from([("X-B3-TraceId".to_string(), "b".to_string())]);
        assert_eq!(Extractor::get(&by_hand, "x-b3-traceid"), Some("b"));
        assert_eq!(Extractor::get(&by_hand, "x-b3-spanid"), None);
    }

    #[cfg(feature = "http")]
    #[test]
    fn header_map_carrier() {
        let mut headers = http::HeaderMap::new();
        headers.set("Traceparent", "v".into());
        headers.set("bad name", "v".into());
        headers.set("x-bad-value", "line\nbreak".into());
        assert_eq!(headers.len(), 1);
        assert_eq!(Extractor::get(&headers, "traceparent"), Some("v"));
        assert_eq!(Extractor::get(&headers, "TRACEPARENT"), Some("v"));
        assert_eq!(Extractor::keys(&headers), ["traceparent"]);
    }
}
