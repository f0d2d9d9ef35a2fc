//! The Jaeger exporter: thrift compact `emitBatch` datagrams to an agent over UDP (the
//! default), or thrift binary `Batch` bodies to a collector over HTTP.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `OTEL_EXPORTER_JAEGER_AGENT_HOST` | the agent's host name or address | `localhost` |
//! | `OTEL_EXPORTER_JAEGER_AGENT_PORT` | the agent's compact thrift UDP port | `6831` |
//! | `OTEL_EXPORTER_JAEGER_ENDPOINT` | the collector URL; when set, spans go there over HTTP | `http://localhost:14268/api/traces` |
//! | `OTEL_EXPORTER_JAEGER_PROTOCOL` | `udp/thrift.compact` or `http/thrift.binary` | `udp/thrift.compact` |
//! | `OTEL_EXPORTER_JAEGER_TIMEOUT` | milliseconds one export may take, retries included | 10000 |
//!
//! Setting `OTEL_EXPORTER_JAEGER_ENDPOINT` selects the collector even when the protocol says
//! `udp/thrift.compact` (with a warning if it says so explicitly).
//!
//! # Agent (UDP)
//!
//! One UDP socket, bound to an ephemeral local port and connected to the agent (resolved at the
//! first export, and again after a failed resolution; IPv4 addresses are tried first, as Jaeger
//! clients do). Each batch is cut into `emitBatch` packets of at most
//! [`JaegerConfig::max_packet_size`] bytes (65,000 by default, what Jaeger clients use), and
//! every packet is sent, each `send` bounded by what is left of the export's timeout.
//!
//! - A span too large for a packet on its own is dropped. All such spans of one export are
//!   reported together in **one** warning through [`JaegerConfig::diagnostics`] and counted in
//!   [`JaegerExporter::too_large_dropped`]. The export still succeeds when every other packet
//!   went out; it fails with [`ExportError::Rejected`] only when nothing could be sent because
//!   every span was too large, so the processor counts those spans as failed.
//! - A send error (for instance `ECONNREFUSED`, which a connected UDP socket reports after the
//!   agent's host answered an earlier datagram with an ICMP "port unreachable") does not stop
//!   the export: the remaining packets are still sent, and the export then fails with
//!   [`ExportError::Transport`] naming the first error. UDP gives no delivery guarantee, so an
//!   `Ok` means only that every packet was handed to the network.
//!
//! # Collector (HTTP)
//!
//! `POST` of a thrift binary `Batch` (`Content-Type: application/x-thrift`) through the shared
//! [`HttpTransport`](crate::transport), retried as it describes. One request per distinct
//! resource (service) of the batch, in order; the first failing request ends the export with
//! its error, and each request has the full timeout (a process usually has one resource).

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use threadline::{ExportError, Exporter, SpanData};
use threadline_wire::jaeger::{binary, compact};

use crate::env::{Reader, DEFAULT_TIMEOUT};
use crate::transport::{Diagnostics, HttpTransport, RetryPolicy};

/// The default agent host.
pub const DEFAULT_AGENT_HOST: &str = "localhost";
/// The agent's compact thrift UDP port.
pub const DEFAULT_AGENT_PORT: u16 = 6831;
/// The default collector URL.
pub const DEFAULT_ENDPOINT: &str = "http://localhost:14268/api/traces";
/// The default and largest useful packet size: what Jaeger clients send.
pub const DEFAULT_MAX_PACKET_SIZE: usize = compact::MAX_PACKET_SIZE;
/// The largest payload of a UDP datagram over IPv4.
pub const MAX_UDP_PAYLOAD: usize = 65_507;

/// How spans reach Jaeger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JaegerProtocol {
    /// `udp/thrift.compact`: `emitBatch` datagrams to an agent.
    #[default]
    UdpThriftCompact,
    /// `http/thrift.binary`: `POST` of a `Batch` to a collector.
    HttpThriftBinary,
}

impl JaegerProtocol {
    /// The name `OTEL_EXPORTER_JAEGER_PROTOCOL` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            JaegerProtocol::UdpThriftCompact => "udp/thrift.compact",
            JaegerProtocol::HttpThriftBinary => "http/thrift.binary",
        }
    }
}

/// Where and how the Jaeger exporter sends spans.
///
/// # Examples
///
/// ```
/// use threadline_export::{JaegerConfig, JaegerExporter, JaegerProtocol};
///
/// // An agent elsewhere, with smaller packets.
/// let config = JaegerConfig {
///     agent_host: "jaeger-agent".into(),
///     max_packet_size: 8_000,
///     ..JaegerConfig::default()
/// };
/// assert!(JaegerExporter::new(config).is_ok());
///
/// // A collector over HTTP.
/// let config = JaegerConfig {
///     protocol: JaegerProtocol::HttpThriftBinary,
///     endpoint: "http://jaeger:14268/api/traces".into(),
///     ..JaegerConfig::default()
/// };
/// assert_eq!(JaegerExporter::new(config).unwrap().endpoint(), "http://jaeger:14268/api/traces");
/// ```
#[derive(Debug, Clone)]
pub struct JaegerConfig {
    /// Agent over UDP or collector over HTTP.
    pub protocol: JaegerProtocol,
    /// The agent's host name or address (UDP).
    pub agent_host: String,
    /// The agent's port (UDP).
    pub agent_port: u16,
    /// The largest datagram sent to the agent, at most [`MAX_UDP_PAYLOAD`] (UDP).
    pub max_packet_size: usize,
    /// The collector URL (HTTP).
    pub endpoint: String,
    /// The time one export may take, retries included.
    pub timeout: Duration,
    /// The backoff between retries (HTTP).
    pub retry: RetryPolicy,
    /// Where dropped spans and a rejecting collector's message are reported.
    pub diagnostics: Diagnostics,
    /// One message per invalid environment value ([`JaegerConfig::from_lookup`]); printed by
    /// [`JaegerExporter::from_env`].
    pub warnings: Vec<String>,
}

impl Default for JaegerConfig {
    fn default() -> Self {
        JaegerConfig {
            protocol: JaegerProtocol::UdpThriftCompact,
            agent_host: DEFAULT_AGENT_HOST.to_string(),
            agent_port: DEFAULT_AGENT_PORT,
            max_packet_size: DEFAULT_MAX_PACKET_SIZE,
            endpoint: DEFAULT_ENDPOINT.to_string(),
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            diagnostics: Diagnostics::default(),
            warnings: Vec::new(),
        }
    }
}

impl JaegerConfig {
    /// Reads `OTEL_EXPORTER_JAEGER_*` from the process environment.
    pub fn from_env() -> Self {
        JaegerConfig::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads `OTEL_EXPORTER_JAEGER_*` through `lookup`; invalid values fall back to the
    /// defaults and leave a message naming the variable in `warnings`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadline_export::{JaegerConfig, JaegerProtocol};
    ///
    /// let config = JaegerConfig::from_lookup(|name| match name {
    ///     "OTEL_EXPORTER_JAEGER_ENDPOINT" => Some("http://jaeger:14268/api/traces".into()),
    ///     "OTEL_EXPORTER_JAEGER_AGENT_PORT" => Some("seventy".into()),
    ///     _ => None,
    /// });
    /// assert_eq!(config.protocol, JaegerProtocol::HttpThriftBinary);
    /// assert_eq!(config.agent_port, 6831);
    /// assert!(config.warnings[0].contains("OTEL_EXPORTER_JAEGER_AGENT_PORT"));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let mut reader = Reader::new(&lookup);
        let agent_host = reader
            .string("OTEL_EXPORTER_JAEGER_AGENT_HOST")
            .unwrap_or_else(|| DEFAULT_AGENT_HOST.to_string());
        let agent_port = agent_port(&mut reader);
        let (protocol_name, protocol) = protocol(&mut reader);
        let name = "OTEL_EXPORTER_JAEGER_ENDPOINT";
        let fallback = match protocol {
            JaegerProtocol::UdpThriftCompact => format!(
                "{} to the agent at {}",
                protocol.as_str(),
                agent_display(&agent_host, agent_port)
            ),
            JaegerProtocol::HttpThriftBinary => DEFAULT_ENDPOINT.to_string(),
        };
        let endpoint = reader
            .string(name)
            .and_then(|v| reader.url(name, &v, &fallback));
        let protocol = match (&endpoint, protocol) {
            (Some(url), JaegerProtocol::UdpThriftCompact) => {
                if protocol_name.is_some() {
                    reader.warnings.push(format!(
                        "OTEL_EXPORTER_JAEGER_PROTOCOL is udp/thrift.compact but {name} is set; using http/thrift.binary to {url}"
                    ));
                }
                JaegerProtocol::HttpThriftBinary
            }
            (_, protocol) => protocol,
        };
        let timeout = reader.timeout(&["OTEL_EXPORTER_JAEGER_TIMEOUT"]);
        JaegerConfig {
            protocol,
            agent_host,
            agent_port,
            endpoint: endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            timeout,
            warnings: reader.warnings,
            ..JaegerConfig::default()
        }
    }
}

fn agent_port(reader: &mut Reader<'_>) -> u16 {
    let name = "OTEL_EXPORTER_JAEGER_AGENT_PORT";
    let Some(value) = reader.string(name) else {
        return DEFAULT_AGENT_PORT;
    };
    match value.parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => {
            reader.invalid(
                name,
                &value,
                "a port number from 1 to 65535",
                DEFAULT_AGENT_PORT,
            );
            DEFAULT_AGENT_PORT
        }
    }
}

/// The protocol, and whether it was set explicitly (to a valid value).
fn protocol(reader: &mut Reader<'_>) -> (Option<&'static str>, JaegerProtocol) {
    let name = "OTEL_EXPORTER_JAEGER_PROTOCOL";
    let Some(value) = reader.string(name) else {
        return (None, JaegerProtocol::UdpThriftCompact);
    };
    match value.to_ascii_lowercase().as_str() {
        "udp/thrift.compact" => (Some(name), JaegerProtocol::UdpThriftCompact),
        "http/thrift.binary" => (Some(name), JaegerProtocol::HttpThriftBinary),
        _ => {
            reader.invalid(
                name,
                &value,
                "udp/thrift.compact or http/thrift.binary",
                "udp/thrift.compact",
            );
            (None, JaegerProtocol::UdpThriftCompact)
        }
    }
}

fn agent_display(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Sends spans to a Jaeger agent over UDP or a Jaeger collector over HTTP; see the
/// [module](self) for what an export's result means with each.
#[derive(Debug)]
pub struct JaegerExporter {
    sink: Sink,
    diagnostics: Diagnostics,
    too_large_dropped: u64,
    shut_down: bool,
}

#[derive(Debug)]
enum Sink {
    Agent(Agent),
    Collector(HttpTransport),
}

#[derive(Debug)]
struct Agent {
    host: String,
    port: u16,
    display: String,
    max_packet: usize,
    timeout: Duration,
    /// Bound and connected at the first export that could resolve the agent.
    socket: Option<UdpSocket>,
}

impl Agent {
    /// The connected socket, creating it if needed.
    fn socket(&mut self) -> Result<&UdpSocket, ExportError> {
        if self.socket.is_none() {
            self.socket = Some(self.connect()?);
        }
        Ok(self.socket.as_ref().expect("just set"))
    }

    fn connect(&self) -> Result<UdpSocket, ExportError> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let mut addrs: Vec<SocketAddr> = (host, self.port)
            .to_socket_addrs()
            .map_err(|e| {
                ExportError::Transport(format!("cannot resolve agent {}: {e}", self.display))
            })?
            .collect();
        addrs.sort_by_key(|a| !a.is_ipv4());
        let mut last = None;
        for addr in addrs {
            let local: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            match UdpSocket::bind(local).and_then(|s| s.connect(addr).map(|()| s)) {
                Ok(socket) => return Ok(socket),
                Err(e) => last = Some(e),
            }
        }
        Err(ExportError::Transport(match last {
            Some(e) => format!("cannot connect to agent {}: {e}", self.display),
            None => format!("agent {} resolves to no address", self.display),
        }))
    }

    /// Sends every packet, within the timeout; the first error, if any.
    fn send_all(&mut self, packets: &[Vec<u8>]) -> Option<ExportError> {
        let deadline = Instant::now() + self.timeout;
        let timeout = self.timeout;
        let display = self.display.clone();
        let socket = match self.socket() {
            Ok(socket) => socket,
            Err(error) => return Some(error),
        };
        let mut sent = 0;
        let mut first_error = None;
        for packet in packets {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                first_error.get_or_insert(ExportError::Timeout(timeout));
                break;
            }
            let result = socket
                .set_write_timeout(Some(remaining))
                .and_then(|()| socket.send(packet));
            match result {
                Ok(n) if n == packet.len() => sent += 1,
                Ok(n) => {
                    first_error.get_or_insert(ExportError::Transport(format!(
                        "agent {display}: only {n} of {} bytes of a packet were sent",
                        packet.len()
                    )));
                }
                Err(e) => {
                    first_error.get_or_insert(ExportError::Transport(format!(
                        "cannot send to agent {display}: {e}"
                    )));
                }
            }
        }
        if let Some(ExportError::Transport(message)) = &mut first_error {
            let failed = packets.len() - sent;
            if packets.len() > 1 {
                message.push_str(&format!(
                    " ({failed} of {} packets not sent)",
                    packets.len()
                ));
            }
        }
        first_error
    }
}

impl JaegerExporter {
    /// An exporter with `config`. No network access happens here: the agent is resolved at
    /// the first export.
    ///
    /// # Errors
    ///
    /// A message when the collector endpoint is not an `http://` URL, the timeout is zero, the
    /// agent host is empty, or the packet size is 0 or above [`MAX_UDP_PAYLOAD`].
    pub fn new(config: JaegerConfig) -> Result<Self, String> {
        if config.timeout.is_zero() {
            return Err("the timeout must be positive".to_string());
        }
        let sink = match config.protocol {
            JaegerProtocol::UdpThriftCompact => {
                let host = config.agent_host.trim().to_string();
                if host.is_empty() {
                    return Err("the agent host is empty".to_string());
                }
                if config.max_packet_size == 0 || config.max_packet_size > MAX_UDP_PAYLOAD {
                    return Err(format!(
                        "the packet size {} is not between 1 and {MAX_UDP_PAYLOAD} bytes",
                        config.max_packet_size
                    ));
                }
                Sink::Agent(Agent {
                    display: agent_display(&host, config.agent_port),
                    host,
                    port: config.agent_port,
                    max_packet: config.max_packet_size,
                    timeout: config.timeout,
                    socket: None,
                })
            }
            JaegerProtocol::HttpThriftBinary => Sink::Collector(
                HttpTransport::new(
                    config.endpoint,
                    config.timeout,
                    vec![("content-type".to_string(), binary::CONTENT_TYPE.to_string())],
                )?
                .with_retry_policy(config.retry)
                .with_diagnostics(config.diagnostics.clone()),
            ),
        };
        Ok(JaegerExporter {
            sink,
            diagnostics: config.diagnostics,
            too_large_dropped: 0,
            shut_down: false,
        })
    }

    /// An exporter configured from `OTEL_EXPORTER_JAEGER_*`, printing a warning for each
    /// invalid value.
    ///
    /// # Errors
    ///
    /// As [`JaegerExporter::new`].
    pub fn from_env() -> Result<Self, String> {
        let config = JaegerConfig::from_env();
        for warning in &config.warnings {
            config.diagnostics.warn(warning);
        }
        JaegerExporter::new(config)
    }

    /// How spans are sent.
    pub fn protocol(&self) -> JaegerProtocol {
        match self.sink {
            Sink::Agent(_) => JaegerProtocol::UdpThriftCompact,
            Sink::Collector(_) => JaegerProtocol::HttpThriftBinary,
        }
    }

    /// Where spans go: the agent's `host:port`, or the collector URL.
    pub fn endpoint(&self) -> &str {
        match &self.sink {
            Sink::Agent(agent) => &agent.display,
            Sink::Collector(transport) => transport.url(),
        }
    }

    /// How many spans were dropped so far because they did not fit in a packet (UDP).
    pub fn too_large_dropped(&self) -> u64 {
        self.too_large_dropped
    }

    fn export_udp(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        let Sink::Agent(agent) = &mut self.sink else {
            unreachable!("called for the agent only")
        };
        let max_packet = agent.max_packet;
        let packets = compact::encode_emit_batches(batch, max_packet);
        let error = if packets.packets.is_empty() {
            None
        } else {
            agent.send_all(&packets.packets)
        };
        if !packets.too_large.is_empty() {
            let dropped = packets.too_large.len();
            self.too_large_dropped += dropped as u64;
            let largest = packets
                .too_large
                .iter()
                .max_by_key(|t| t.packet_size)
                .expect("not empty");
            self.diagnostics.warn(&format!(
                "jaeger: dropped {dropped} span(s) too large for a {max_packet}-byte UDP packet (the largest, {:?}, needs {} bytes); use the HTTP collector (OTEL_EXPORTER_JAEGER_ENDPOINT) for large spans",
                &*batch[largest.index].name,
                largest.packet_size
            ));
            if packets.packets.is_empty() {
                return Err(ExportError::Rejected(format!(
                    "all {dropped} span(s) are too large for a {max_packet}-byte UDP packet"
                )));
            }
        }
        error.map_or(Ok(()), Err)
    }
}

impl Exporter for JaegerExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::Shutdown);
        }
        if batch.is_empty() {
            return Ok(());
        }
        match &mut self.sink {
            Sink::Agent(_) => self.export_udp(batch),
            Sink::Collector(transport) => {
                for body in binary::encode_batch(batch) {
                    transport.send(&body)?;
                }
                Ok(())
            }
        }
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        if let Sink::Agent(agent) = &mut self.sink {
            agent.socket = None;
        }
        Ok(())
    }
}
