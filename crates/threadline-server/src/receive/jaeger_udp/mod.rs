//! The Jaeger agent's UDP receivers: `emitBatch` datagrams in Thrift compact (port 6831, what
//! Jaeger clients send) or binary (port 6832).
//!
//! Each datagram is one batch. It is decoded leniently: the valid spans of a partly bad
//! datagram are stored and the others counted as rejected; a datagram nothing could be read
//! from is counted as refused and logged at debug level, never more (UDP has no reply to
//! carry the error). Datagrams are read as fast as they arrive and handed to tasks that decode
//! and store them, each holding a permit of the server's [`Admission`](super::Admission);
//! a datagram that finds no permit is dropped and counted as throttled, since UDP cannot ask
//! the sender to slow down.

use std::io;

use threadline_wire::jaeger::{binary, compact, DecodeError};
use threadline_wire::Decoded;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::receive::{summarize, Intake};

/// The largest datagram read whole: the largest UDP payload over IPv4 (65,507 bytes) fits,
/// so the 65,000-byte packets of Jaeger clients are never cut.
pub const MAX_DATAGRAM_BYTES: usize = 65_536;

/// The Thrift protocol of an agent port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `TCompactProtocol`, the agent's port 6831.
    Compact,
    /// `TBinaryProtocol`, the agent's port 6832.
    Binary,
}

impl Protocol {
    fn decode(self, datagram: &[u8]) -> Decoded<DecodeError> {
        match self {
            Protocol::Compact => compact::decode_emit_batch_lenient(datagram),
            Protocol::Binary => binary::decode_emit_batch_lenient(datagram),
        }
    }
}

/// Reads `socket` until `stopped` turns true, then waits for the datagrams being stored.
///
/// # Errors
///
/// The socket's error when reading fails for a reason other than a datagram's (an ICMP
/// error reported on the socket is skipped).
pub(crate) async fn serve(
    socket: UdpSocket,
    protocol: Protocol,
    intake: Intake,
    mut stopped: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut buf = vec![0; MAX_DATAGRAM_BYTES];
    let mut in_flight = JoinSet::new();
    let result = loop {
        // reap the finished tasks so the set stays as small as the work in flight
        while in_flight.try_join_next().is_some() {}
        let received = tokio::select! {
            received = socket.recv_from(&mut buf) => received,
            _ = stopped.wait_for(|stop| *stop) => break Ok(()),
        };
        let len = match received {
            Ok((len, _)) => len,
            // a previous send's ICMP error, reported on this socket on some systems
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
            Err(e) => break Err(e),
        };
        let Ok(permit) = intake.admit() else {
            intake.stats().count_throttled();
            tracing::debug!(
                bytes = len,
                "jaeger udp datagram dropped: too many batches in flight"
            );
            continue;
        };
        let datagram = buf[..len].to_vec();
        let intake = intake.clone();
        in_flight.spawn(async move {
            store_datagram(&intake, protocol, &datagram).await;
            drop(permit);
        });
    };
    while in_flight.join_next().await.is_some() {}
    result
}

/// Decodes one datagram and stores its valid spans, counting what was not.
async fn store_datagram(intake: &Intake, protocol: Protocol, datagram: &[u8]) {
    let decoded = protocol.decode(datagram);
    let rejected = decoded
        .errors
        .iter()
        .filter(|e| matches!(e, DecodeError::Span(_)))
        .count();
    if decoded.spans.is_empty() && !decoded.errors.is_empty() {
        intake.stats().count_refused();
        intake.stats().count_spans(0, rejected);
        tracing::debug!(
            bytes = datagram.len(),
            error = %summarize(&decoded.errors),
            "jaeger udp datagram refused"
        );
        return;
    }
    if !decoded.errors.is_empty() {
        tracing::debug!(
            bytes = datagram.len(),
            error = %summarize(&decoded.errors),
            "jaeger udp datagram partly rejected"
        );
    }
    if let Err(error) = intake.append(decoded.spans, rejected).await {
        intake.stats().count_refused();
        tracing::debug!(error = %error, "jaeger udp datagram not stored");
    }
}
