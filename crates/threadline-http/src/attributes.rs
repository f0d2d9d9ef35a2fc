//! The attribute names this crate records, from the OpenTelemetry HTTP semantic conventions,
//! and the small rules that turn a request into their values.
//!
//! # Examples
//!
//! ```
//! use threadline_http::attributes;
//! assert_eq!(attributes::HTTP_REQUEST_METHOD, "http.request.method");
//! assert_eq!(attributes::method_name(&http::Method::GET), "GET");
//! assert_eq!(attributes::method_name(&http::Method::from_bytes(b"BREW").unwrap()), "_OTHER");
//! ```

/// `http.request.method`: the request method, one of the known methods or `_OTHER`.
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
/// `http.request.method_original`: the method as sent, when it is not a known one.
pub const HTTP_REQUEST_METHOD_ORIGINAL: &str = "http.request.method_original";
/// `http.response.status_code`: the response status code, as an integer.
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
/// `http.route`: the matched route template, such as `/users/{id}` (servers only).
pub const HTTP_ROUTE: &str = "http.route";
/// `url.path`: the path of the request target (servers).
pub const URL_PATH: &str = "url.path";
/// `url.query`: the query of the request target, without the `?` (servers).
pub const URL_QUERY: &str = "url.query";
/// `url.scheme`: `http` or `https`, when known.
pub const URL_SCHEME: &str = "url.scheme";
/// `url.full`: the absolute URL of the request, without user name and password (clients).
pub const URL_FULL: &str = "url.full";
/// `server.address`: the host the request was sent to (from `Host` on servers).
pub const SERVER_ADDRESS: &str = "server.address";
/// `server.port`: the port the request was sent to.
pub const SERVER_PORT: &str = "server.port";
/// `network.protocol.version`: the HTTP version, such as `1.1` or `2`.
pub const NETWORK_PROTOCOL_VERSION: &str = "network.protocol.version";
/// `user_agent.original`: the `User-Agent` header (servers).
pub const USER_AGENT_ORIGINAL: &str = "user_agent.original";
/// `error.type`: why a request failed: the status code as text for an HTTP error status, or
/// the kind of transport error.
pub const ERROR_TYPE: &str = "error.type";

/// The semantic-conventions name of a method: the method itself when it is one of the nine
/// known methods (and `QUERY`), else `_OTHER`.
///
/// # Examples
///
/// ```
/// use threadline_http::attributes::method_name;
/// assert_eq!(method_name(&http::Method::DELETE), "DELETE");
/// assert_eq!(method_name(&http::Method::from_bytes(b"get").unwrap()), "_OTHER");
/// ```
pub fn method_name(method: &http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        "QUERY" => "QUERY",
        _ => "_OTHER",
    }
}

/// The span name for a request: `METHOD route`, or `METHOD` without a route; `HTTP` stands
/// for a method that is not a known one.
///
/// # Examples
///
/// ```
/// use threadline_http::attributes::span_name;
/// assert_eq!(span_name(&http::Method::GET, Some("/users/{id}")), "GET /users/{id}");
/// assert_eq!(span_name(&http::Method::POST, None), "POST");
/// assert_eq!(span_name(&http::Method::from_bytes(b"BREW").unwrap(), None), "HTTP");
/// ```
pub fn span_name(method: &http::Method, route: Option<&str>) -> String {
    let method = match method_name(method) {
        "_OTHER" => "HTTP",
        known => known,
    };
    match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    }
}

/// The `network.protocol.version` of an HTTP version: `0.9`, `1.0`, `1.1`, `2` or `3`.
///
/// # Examples
///
/// ```
/// use threadline_http::attributes::protocol_version;
/// assert_eq!(protocol_version(http::Version::HTTP_11), Some("1.1"));
/// assert_eq!(protocol_version(http::Version::HTTP_2), Some("2"));
/// ```
pub fn protocol_version(version: http::Version) -> Option<&'static str> {
    match version {
        http::Version::HTTP_09 => Some("0.9"),
        http::Version::HTTP_10 => Some("1.0"),
        http::Version::HTTP_11 => Some("1.1"),
        http::Version::HTTP_2 => Some("2"),
        http::Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// Splits a `Host` header value into host and port: `example.com:8080`, `[::1]:80`,
/// `example.com`. `None` when the value is not a plausible authority.
///
/// # Examples
///
/// ```
/// use threadline_http::attributes::split_host;
/// assert_eq!(split_host("example.com:8080"), Some(("example.com", Some(8080))));
/// assert_eq!(split_host("[::1]:80"), Some(("::1", Some(80))));
/// assert_eq!(split_host("example.com"), Some(("example.com", None)));
/// assert_eq!(split_host("bad host"), None);
/// ```
pub fn split_host(value: &str) -> Option<(&str, Option<u16>)> {
    let authority: http::uri::Authority = value.parse().ok()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let start = value.find(host)?;
    let rest = &value[start + host.len()..];
    let rest = rest.strip_prefix(']').unwrap_or(rest);
    let port = match rest.strip_prefix(':') {
        Some(digits) => Some(digits.parse::<u16>().ok()?),
        None => None,
    };
    Some((&value[start..start + host.len()], port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers() {
        assert_eq!(split_host("localhost:0"), Some(("localhost", Some(0))));
        assert_eq!(split_host("127.0.0.1"), Some(("127.0.0.1", None)));
        assert_eq!(split_host("user@host:1"), None);
        assert_eq!(split_host(""), None);
        assert_eq!(split_host("host:99999"), None);
    }

    #[test]
    fn versions_and_names() {
        assert_eq!(protocol_version(http::Version::HTTP_10), Some("1.0"));
        assert_eq!(span_name(&http::Method::PATCH, Some("/")), "PATCH /");
        assert_eq!(method_name(&http::Method::OPTIONS), "OPTIONS");
    }
}
