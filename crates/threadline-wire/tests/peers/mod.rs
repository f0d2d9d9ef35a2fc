//! Running the third-party peers that `scripts/ci` installs into `target/peers-venv`, and an
//! HTTP listener recording what they send.

// Each test crate that includes this file uses its own part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;

/// Runs the peers' Python (`THREADLINE_PEERS_PYTHON`) with `args`, feeding it `stdin`, and
/// returns its standard output; a failure shows the peer's standard error.
pub fn run_python(args: &[&str], stdin: &[u8]) -> String {
    let python = std::env::var("THREADLINE_PEERS_PYTHON")
        .expect("THREADLINE_PEERS_PYTHON names the peers' python (scripts/ci sets it)");
    let mut child = Command::new(python)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the peers' python starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("input written");
    let out = child.wait_with_output().expect("python finishes");
    assert!(
        out.status.success(),
        "the peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// One request as [`http_recorder`] read it: path, content type, body.
pub type Recorded = (String, String, Vec<u8>);

/// A TCP listener on 127.0.0.1 standing in for a Zipkin receiver or a Jaeger collector: records
/// every HTTP request and answers 202 with an empty body. Connections are served one after the
/// other (so requests are recorded in the order they were sent), each for as many requests as
/// the peer sends on it. Returns the port and the requests.
pub fn http_recorder() -> (u16, mpsc::Receiver<Recorded>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            if !record_connection(stream, &tx) {
                return;
            }
        }
    });
    (port, rx)
}

/// Records the requests on one connection until the peer closes it; `false` once the test
/// stopped listening.
fn record_connection(mut stream: TcpStream, tx: &mpsc::Sender<Recorded>) -> bool {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return true;
        }
        let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
        let (mut length, mut content_type) = (0usize, String::new());
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).expect("header");
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let answered = stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n");
        if tx.send((path, content_type, body)).is_err() {
            return false;
        }
        if answered.is_err() {
            return true;
        }
    }
}
