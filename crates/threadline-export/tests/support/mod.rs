//! A fault injector: a tiny HTTP/1.1 server on 127.0.0.1 that records every request and answers
//! what the test scripted, one reply per request in order (200 once the script is empty).

// Each test crate uses its own part of the support code.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use threadline::{SpanData, Tracer};
use threadline_export::{Diagnostics, RetryPolicy};

/// One request as the server read it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What to answer to one request.
#[derive(Debug, Clone)]
pub enum Reply {
    Status {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Read the request, then never answer (the connection stays open until the client drops it).
    Silent,
    /// Read the request, wait until the gate opens, then answer 200: a backend that hangs for
    /// as long as the test wants.
    Hold(Gate),
}

/// Opened once by the test; every [`Reply::Hold`] waiting on it then answers.
#[derive(Debug, Clone, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn open(&self) {
        let (open, changed) = &*self.0;
        *open.lock().unwrap() = true;
        changed.notify_all();
    }

    fn wait(&self) {
        let (open, changed) = &*self.0;
        let mut guard = open.lock().unwrap();
        while !*guard {
            guard = changed.wait(guard).unwrap();
        }
    }
}

impl Reply {
    pub fn status(status: u16, body: &str) -> Self {
        Reply::Status {
            status,
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Reply::Status { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }
}

pub struct Server {
    pub addr: SocketAddr,
    script: Arc<Mutex<VecDeque<Reply>>>,
    requests: Receiver<Request>,
}

impl Server {
    pub fn start() -> Self {
        Server::serve(TcpListener::bind("127.0.0.1:0").expect("bind"))
    }

    /// A server on a port known in advance (a backend coming back where it was).
    pub fn start_at(addr: SocketAddr) -> Self {
        Server::serve(TcpListener::bind(addr).expect("rebind the port"))
    }

    fn serve(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let (tx, requests) = channel();
        let shared = script.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (script, tx) = (shared.clone(), tx.clone());
                std::thread::spawn(move || handle(stream, &script, &tx));
            }
        });
        Server {
            addr,
            script,
            requests,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn reply(&self, reply: Reply) {
        self.script.lock().unwrap().push_back(reply);
    }

    /// The next request, waiting for it at most 5 s.
    pub fn next_request(&self) -> Request {
        self.requests
            .recv_timeout(Duration::from_secs(5))
            .expect("a request reached the server")
    }

    /// Every request received so far, without waiting.
    pub fn received(&self) -> Vec<Request> {
        self.requests.try_iter().collect()
    }
}

fn handle(stream: TcpStream, script: &Mutex<VecDeque<Reply>>, tx: &Sender<Request>) {
    let mut reader = BufReader::new(stream);
    loop {
        let Some(request) = read_request(&mut reader) else {
            return;
        };
        let reply = script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Reply::status(200, ""));
        if tx.send(request).is_err() {
            return;
        }
        let (status, headers, body) = match reply {
            Reply::Silent => {
                // Hold the connection until the client gives up on it.
                let _ = reader.read_to_end(&mut Vec::new());
                return;
            }
            Reply::Hold(gate) => {
                gate.wait();
                (200, Vec::new(), String::new())
            }
            Reply::Status {
                status,
                headers,
                body,
            } => (status, headers, body),
        };
        let mut out = format!(
            "HTTP/1.1 {status} Scripted\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (name, value) in headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(&body);
        if reader.get_mut().write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body,
        received_at: Instant::now(),
    })
}

/// An address nothing listens on: bind a port, then let it go.
pub fn dead_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// An environment made of `vars`, for the exporters' `from_lookup` constructors.
pub fn lookup(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// Real spans from a tracer: `main` with two `doWork` children, service `quickstart`.
pub fn spans() -> Vec<SpanData> {
    let (tracer, memory) = Tracer::builder().service_name("quickstart").in_memory();
    {
        let _main = tracer.span("main");
        for i in 0..2 {
            let work = tracer.span("doWork");
            work.add_attribute("i", i);
            work.add_annotation("invoking doWork", []);
        }
    }
    tracer.flush(Duration::from_secs(5)).unwrap();
    let spans = memory.spans();
    assert_eq!(spans.len(), 3);
    spans
}

/// Diagnostics that keep every message, and the messages kept.
pub fn collecting() -> (Diagnostics, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let diagnostics = Diagnostics::new(move |m| sink.lock().unwrap().push(m.to_string()));
    (diagnostics, seen)
}

/// Retries 10 ms apart at first and 50 ms at most, so that tests of retrying stay short.
pub fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}
