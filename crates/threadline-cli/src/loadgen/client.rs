//! A minimal blocking HTTP/1.1 client for one keep-alive connection: it writes a complete
//! pre-built request and reads the status, the few headers a load generator cares about and
//! the body. No TLS, no redirects, no pipelining; cheaper than a general client, so the server
//! under test gets the CPU.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The longest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest response body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Why an endpoint URL cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Not `http://host[:port][/path]`.
    #[error("endpoint {0:?} is not an http:// url (https is not supported)")]
    NotHttp(String),
    /// The host did not resolve.
    #[error("cannot resolve endpoint host {host:?}: {source}")]
    Resolve {
        /// The `host:port` looked up.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
}

/// Where requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]`, as the `host` header.
    pub authority: String,
    /// The request path, `/` at least.
    pub path: String,
    /// The resolved address.
    pub address: SocketAddr,
}

impl Endpoint {
    /// Parses and resolves `http://host[:port][/path]` (port 80 when not given).
    ///
    /// # Errors
    ///
    /// A URL of another scheme or shape, or a host that does not resolve.
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| EndpointError::NotHttp(url.to_string()))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err(EndpointError::NotHttp(url.to_string()));
        }
        // a bracketed IPv6 address carries its own colons
        let has_port = authority
            .rsplit_once(':')
            .is_some_and(|(_, port)| !port.contains(']'));
        let lookup = if has_port {
            authority.to_string()
        } else {
            format!("{authority}:80")
        };
        let address = lookup
            .to_socket_addrs()
            .and_then(|mut addresses| {
                addresses
                    .next()
                    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))
            })
            .map_err(|source| EndpointError::Resolve {
                host: lookup.clone(),
                source,
            })?;
        Ok(Endpoint {
            authority: authority.to_string(),
            path: path.to_string(),
            address,
        })
    }
}

/// Why a request got no usable response.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server closed the connection before a complete response.
    #[error("connection closed before a complete response")]
    Closed,
    /// The response is not HTTP/1.x as understood here.
    #[error("malformed response: {0}")]
    Malformed(&'static str),
}

/// What came back for one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status code.
    pub status: u16,
    /// `Retry-After` in seconds, when given as a number.
    pub retry_after: Option<Duration>,
    /// `rejected_spans` of an OTLP partial success in a protobuf body (0 without one).
    pub rejected_spans: i64,
    /// Whether the server will close the connection after this response.
    pub close: bool,
}

/// One open connection.
pub struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Connection {
    /// Connects, with no Nagle delay and reads that give up after `timeout`.
    ///
    /// # Errors
    ///
    /// The connect error.
    pub fn open(address: SocketAddr, timeout: Duration) -> io::Result<Connection> {
        let stream = TcpStream::connect_timeout(&address, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        Ok(Connection {
            stream,
            buffer: Vec::with_capacity(4096),
        })
    }

    /// Writes `request` (head and body) and reads the whole response.
    ///
    /// # Errors
    ///
    /// I/O errors, a connection closed early, a response that cannot be parsed; the
    /// connection should not be used again after any of them.
    pub fn send(&mut self, request: &[u8]) -> Result<Reply, RequestError> {
        self.stream.write_all(request)?;
        self.buffer.clear();
        let head_end = loop {
            if let Some(i) = find(&self.buffer, b"\r\n\r\n") {
                break i + 4;
            }
            if self.buffer.len() > MAX_HEAD {
                return Err(RequestError::Malformed("response head too long"));
            }
            self.fill()?;
        };
        let head = Head::parse(&self.buffer[..head_end])?;
        let body = match head.length {
            BodyLength::Fixed(len) => {
                if len > MAX_BODY {
                    return Err(RequestError::Malformed("response body too long"));
                }
                while self.buffer.len() < head_end + len {
                    self.fill()?;
                }
                self.buffer[head_end..head_end + len].to_vec()
            }
            BodyLength::Chunked => self.read_chunked(head_end)?,
        };
        let rejected_spans = if (200..300).contains(&head.status) && !head.json {
            partial_success_rejected(&body).unwrap_or(0)
        } else {
            0
        };
        Ok(Reply {
            status: head.status,
            retry_after: head.retry_after,
            rejected_spans,
            close: head.close,
        })
    }

    /// Reads more bytes into the buffer.
    fn fill(&mut self) -> Result<(), RequestError> {
        let mut chunk = [0u8; 8192];
        let n = self.stream.read(&mut chunk)?;
        if n == 0 {
            return Err(RequestError::Closed);
        }
        self.buffer.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Reads a chunked body that starts at `at` in the buffer.
    fn read_chunked(&mut self, mut at: usize) -> Result<Vec<u8>, RequestError> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buffer[at..], b"\r\n") {
                    break at + i;
                }
                self.fill()?;
            };
            let size_text = std::str::from_utf8(&self.buffer[at..line_end])
                .map_err(|_| RequestError::Malformed("chunk size"))?;
            let size_text = size_text.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size_text, 16)
                .map_err(|_| RequestError::Malformed("chunk size"))?;
            if size > MAX_BODY || body.len() + size > MAX_BODY {
                return Err(RequestError::Malformed("response body too long"));
            }
            at = line_end + 2;
            if size == 0 {
                // no trailers are expected: the body ends with an empty line
                while self.buffer.len() < at + 2 {
                    self.fill()?;
                }
                return Ok(body);
            }
            while self.buffer.len() < at + size + 2 {
                self.fill()?;
            }
            body.extend_from_slice(&self.buffer[at..at + size]);
            at += size + 2;
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

enum BodyLength {
    Fixed(usize),
    Chunked,
}

struct Head {
    status: u16,
    length: BodyLength,
    retry_after: Option<Duration>,
    close: bool,
    json: bool,
}

impl Head {
    fn parse(bytes: &[u8]) -> Result<Head, RequestError> {
        let text =
            std::str::from_utf8(bytes).map_err(|_| RequestError::Malformed("head not utf-8"))?;
        let mut lines = text.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default();
        if !version.starts_with("HTTP/1.") {
            return Err(RequestError::Malformed("not an HTTP/1.x status line"));
        }
        let status = parts
            .next()
            .and_then(|code| code.parse().ok())
            .ok_or(RequestError::Malformed("status code"))?;
        let mut head = Head {
            status,
            length: BodyLength::Fixed(0),
            retry_after: None,
            close: version == "HTTP/1.0",
            json: false,
        };
        for line in lines.filter(|l| !l.is_empty()) {
            let Some((name, value)) = line.split_once(':') else {
                return Err(RequestError::Malformed("header line"));
            };
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "content-length" => {
                    let len = value
                        .parse()
                        .map_err(|_| RequestError::Malformed("content-length"))?;
                    head.length = BodyLength::Fixed(len);
                }
                "transfer-encoding" if value.eq_ignore_ascii_case("chunked") => {
                    head.length = BodyLength::Chunked;
                }
                "retry-after" => head.retry_after = value.parse().ok().map(Duration::from_secs),
                "connection" => head.close = value.eq_ignore_ascii_case("close"),
                "content-type" => head.json = value.starts_with("application/json"),
                _ => {}
            }
        }
        Ok(head)
    }
}

/// `ExportTraceServiceResponse.partial_success (1).rejected_spans (1)`, if the body has it.
fn partial_success_rejected(body: &[u8]) -> Option<i64> {
    let mut at = 0;
    let mut rejected = None;
    while at < body.len() {
        let key = varint(body, &mut at)?;
        match (key >> 3, key & 7) {
            (1, 2) => {
                let len = varint(body, &mut at)? as usize;
                let message = body.get(at..at.saturating_add(len))?;
                at += len;
                let mut inner = 0;
                while inner < message.len() {
                    let key = varint(message, &mut inner)?;
                    match key & 7 {
                        0 => {
                            let value = varint(message, &mut inner)?;
                            if key >> 3 == 1 {
                                rejected = Some(value as i64);
                            }
                        }
                        2 => {
                            let len = varint(message, &mut inner)? as usize;
                            inner = inner.saturating_add(len);
                        }
                        1 => inner += 8,
                        5 => inner += 4,
                        _ => return rejected,
                    }
                }
            }
            (_, 0) => {
                varint(body, &mut at)?;
            }
            (_, 2) => {
                let len = varint(body, &mut at)? as usize;
                at = at.saturating_add(len);
            }
            (_, 1) => at += 8,
            (_, 5) => at += 4,
            _ => return rejected,
        }
    }
    rejected
}

fn varint(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::io::BufRead;
    use std::net::TcpListener;

    use super::*;

    #[test]
    fn endpoints_parse_with_and_without_port_and_path() {
        let e = Endpoint::parse("http://127.0.0.1:4318/v1/traces").expect("endpoint");
        assert_eq!(e.authority, "127.0.0.1:4318");
        assert_eq!(e.path, "/v1/traces");
        assert_eq!(e.address, "127.0.0.1:4318".parse().expect("address"));
        let e = Endpoint::parse("http://127.0.0.1").expect("endpoint");
        assert_eq!((e.path.as_str(), e.address.port()), ("/", 80));
        let e = Endpoint::parse("http://[::1]:9/x").expect("endpoint");
        assert_eq!(e.address, "[::1]:9".parse().expect("address"));
        assert!(matches!(
            Endpoint::parse("https://127.0.0.1/v1/traces"),
            Err(EndpointError::NotHttp(_))
        ));
    }

    #[test]
    fn partial_success_is_read_from_the_response_body() {
        // partial_success { rejected_spans: 300, error_message: "x" }
        let body = [0x0a, 0x06, 0x08, 0xac, 0x02, 0x12, 0x01, b'x'];
        assert_eq!(partial_success_rejected(&body), Some(300));
        assert_eq!(partial_success_rejected(&[]), None);
        assert_eq!(partial_success_rejected(&[0x0a, 0x09]), None);
    }

    /// Serves the given raw responses, one per request read, on one connection.
    fn serve(responses: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = std::io::BufReader::new(stream.try_clone().expect("clone"));
            let mut writer = stream;
            for response in responses {
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).expect("line");
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().expect("length");
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).expect("body");
                writer.write_all(response).expect("write");
            }
        });
        address
    }

    #[test]
    fn fixed_chunked_and_throttled_responses_on_one_connection() {
        let address = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 8\r\n\r\n\x0a\x06\x08\xac\x02\x12\x01x",
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n\x0a\x02\x08\r\n1;ext\r\n\x05\r\n0\r\n\r\n",
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ]);
        let mut connection = Connection::open(address, Duration::from_secs(10)).expect("open");
        let request = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nabc";
        let reply = connection.send(request).expect("first");
        assert_eq!((reply.status, reply.rejected_spans), (200, 300));
        let reply = connection.send(request).expect("second");
        assert_eq!((reply.status, reply.rejected_spans), (200, 5));
        let reply = connection.send(request).expect("third");
        assert_eq!(
            reply,
            Reply {
                status: 429,
                retry_after: Some(Duration::from_secs(2)),
                rejected_spans: 0,
                close: true,
            }
        );
        assert!(connection.send(request).is_err());
    }
}
