//! The Jaeger agent's UDP receivers: `emitBatch` datagrams in Thrift compact (port 6831, what
//! Jaeger clients send) or binary (port 6832).
//!
//! Datagrams are read as fast as they arrive into a bounded queue
//! ([`QUEUE_DATAGRAMS`]); one task per port takes what has queued up (at most
//! [`DATAGRAMS_PER_APPEND`] at a time), decodes it and stores the spans in one append, holding
//! a permit of the server's [`Admission`](super::Admission) meanwhile. UDP cannot ask the
//! sender to slow down, so when the queue is full, or no permit is free, datagrams are dropped
//! and counted as throttled.
//!
//! Each datagram is decoded leniently: the valid spans of a partly bad datagram are stored and
//! the others counted as rejected; a datagram nothing could be read from is counted as refused
//! and logged at debug level, never more (there is no reply to carry the error).
//!
//! Datagrams the system drops before they are read (its socket buffer full) cannot be
//! counted here; the queue keeps the socket drained so that this happens only when the host
//! itself cannot keep up.

use std::io;

use threadline::SpanData;
use threadline_wire::jaeger::{binary, compact, DecodeError};
use threadline_wire::Decoded;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

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

/// The most datagrams waiting to be decoded, per port; past it they are dropped (and
/// counted). At most 16 MiB of 65,536-byte datagrams, much less for Jaeger clients' usual ones.
pub const QUEUE_DATAGRAMS: usize = 256;

/// The most datagrams decoded and stored in one append.
pub const DATAGRAMS_PER_APPEND: usize = 64;

/// Reads `socket` until `stopped` turns true, then stores what is queued and returns.
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
    let (queue, queued) = mpsc::channel(QUEUE_DATAGRAMS);
    let storing = tokio::spawn(store_queued(queued, protocol, intake.clone()));
    let mut buf = vec![0; MAX_DATAGRAM_BYTES];
    let result = loop {
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
        if queue.try_send(buf[..len].to_vec()).is_err() {
            intake.stats().count_throttled();
            tracing::debug!(
                bytes = len,
                "jaeger udp datagram dropped: the queue is full"
            );
        }
    };
    // the store task ends once the queue is closed and empty
    drop(queue);
    if let Err(join) = storing.await {
        return Err(io::Error::other(format!(
            "jaeger udp store task failed: {join}"
        )));
    }
    result
}

/// Takes the datagrams off the queue, as many at a time as have queued up, and stores them.
async fn store_queued(mut queued: mpsc::Receiver<Vec<u8>>, protocol: Protocol, intake: Intake) {
    let mut datagrams = Vec::with_capacity(DATAGRAMS_PER_APPEND);
    while queued.recv_many(&mut datagrams, DATAGRAMS_PER_APPEND).await > 0 {
        let Ok(permit) = intake.admit() else {
            for _ in 0..datagrams.len() {
                intake.stats().count_throttled();
            }
            tracing::debug!(
                datagrams = datagrams.len(),
                "jaeger udp datagrams dropped: too many batches in flight"
            );
            datagrams.clear();
            continue;
        };
        let mut spans = Vec::new();
        let mut rejected = 0;
        for datagram in datagrams.drain(..) {
            rejected += decode_datagram(&intake, protocol, &datagram, &mut spans);
        }
        if let Err(error) = intake.append(spans, rejected).await {
            intake.stats().count_refused();
            tracing::debug!(error = %error, "jaeger udp datagrams not stored");
        }
        drop(permit);
    }
}

/// Decodes one datagram into `spans`, counting a datagram nothing could be read from as
/// refused; returns how many spans were rejected.
fn decode_datagram(
    intake: &Intake,
    protocol: Protocol,
    datagram: &[u8],
    spans: &mut Vec<SpanData>,
) -> usize {
    let decoded = protocol.decode(datagram);
    let rejected = decoded
        .errors
        .iter()
        .filter(|e| matches!(e, DecodeError::Span(_)))
        .count();
    if !decoded.errors.is_empty() {
        if decoded.spans.is_empty() {
            intake.stats().count_refused();
        }
        tracing::debug!(
            bytes = datagram.len(),
            kept = decoded.spans.len(),
            error = %summarize(&decoded.errors),
            "jaeger udp datagram not read whole"
        );
    }
    spans.extend(decoded.spans);
    rejected
}
