//! Status: from `std::io::Error` and from a custom error, `record_error`, and the JSON forms
//! (`Status::to_json` and the status inside a span's JSON line).

use std::fmt;
use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use threadline::{ConsoleExporter, ConsoleFormat, SpanData, Status, StatusCode, Tracer, Value};

/// A hand-written error with a cause, like a `thiserror` one.
#[derive(Debug)]
struct QueryError {
    table: &'static str,
    cause: io::Error,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query on {} failed", self.table)
    }
}

impl std::error::Error for QueryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.cause)
    }
}

/// An error without a source and with characters JSON must escape.
#[derive(Debug)]
struct Weird;

impl fmt::Display for Weird {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad \"quote\"\\ and\nnewline\t\u{1}")
    }
}

impl std::error::Error for Weird {}

fn flushed(tracer: &Tracer, exporter: &threadline::InMemoryExporter) -> Vec<SpanData> {
    tracer.flush(Duration::from_secs(10)).expect("flush");
    exporter.take()
}

#[test]
fn io_errors_map_to_specific_codes() {
    use io::ErrorKind as K;
    let cases = [
        (K::NotFound, StatusCode::NotFound),
        (K::PermissionDenied, StatusCode::PermissionDenied),
        (K::AlreadyExists, StatusCode::AlreadyExists),
        (K::InvalidInput, StatusCode::InvalidArgument),
        (K::InvalidData, StatusCode::InvalidArgument),
        (K::TimedOut, StatusCode::DeadlineExceeded),
        (K::Interrupted, StatusCode::Cancelled),
        (K::ConnectionRefused, StatusCode::Unavailable),
        (K::ConnectionReset, StatusCode::Unavailable),
        (K::Unsupported, StatusCode::Unimplemented),
        (K::UnexpectedEof, StatusCode::OutOfRange),
        (K::Other, StatusCode::Unknown),
    ];
    for (kind, code) in cases {
        let error = io::Error::new(kind, format!("{kind:?} happened"));
        let status = Status::from_error(&error);
        assert_eq!(status.canonical_code(), code, "{kind:?}");
        assert_eq!(status.description(), format!("{kind:?} happened"));
        assert!(!status.is_ok());
        // `From<&E>` is the same conversion.
        assert_eq!(Status::from(&error), status);
    }
}

#[test]
fn io_error_status_json() {
    let error = io::Error::new(io::ErrorKind::NotFound, "no such file: /etc/x.conf");
    let status = Status::from_error(&error);
    assert_eq!(status.details(), None);
    assert_eq!(
        status.to_json(),
        r#"{"code":5,"message":"no such file: /etc/x.conf"}"#
    );
    assert_eq!(status.to_string(), "NOT_FOUND: no such file: /etc/x.conf");
}

#[test]
fn custom_error_keeps_message_and_cause() {
    let error = QueryError {
        table: "users",
        cause: io::Error::new(io::ErrorKind::TimedOut, "socket timed out"),
    };
    let status = Status::from_error(&error);
    // Only the outer error's type decides the code: it is not an io::Error.
    assert_eq!(status.canonical_code(), StatusCode::Unknown);
    assert_eq!(status.description(), "query on users failed");
    assert_eq!(status.details(), Some("caused by: socket timed out"));
    assert_eq!(
        status.to_json(),
        r#"{"code":2,"message":"query on users failed","details":"caused by: socket timed out"}"#
    );
    // A boxed error converts the same way.
    let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(error);
    let from_boxed = Status::from_error(boxed.as_ref());
    assert_eq!(from_boxed, status);
}

#[test]
fn ok_and_plain_statuses_json() {
    assert_eq!(Status::ok().to_json(), r#"{"code":0}"#);
    assert!(Status::ok().is_ok());
    assert_eq!(Status::ok().to_string(), "OK");
    let status = Status::new(StatusCode::ResourceExhausted, "quota").with_details("10/s");
    assert_eq!(
        status.to_json(),
        r#"{"code":8,"message":"quota","details":"10/s"}"#
    );
    assert_eq!(
        Status::new(StatusCode::Unauthenticated, "").to_json(),
        r#"{"code":16}"#
    );
}

#[test]
fn json_escapes_messages() {
    let status = Status::from_error(&Weird);
    assert_eq!(
        status.to_json(),
        r#"{"code":2,"message":"bad \"quote\"\\ and\nnewline\t\u0001"}"#
    );
}

#[test]
fn record_error_sets_status_and_exception_annotation() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let error = QueryError {
        table: "orders",
        cause: io::Error::other("disk on fire"),
    };
    {
        let span = tracer.span("query");
        span.add_attribute("table", "orders");
        span.record_error(&error);
    }
    {
        let span = tracer.span("io");
        span.record_error(&io::Error::new(io::ErrorKind::PermissionDenied, "denied"));
    }
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 2);
    let query = spans.iter().find(|s| s.name == "query").unwrap();
    let status = query.status.as_ref().expect("status set");
    assert_eq!(status.canonical_code(), StatusCode::Unknown);
    assert_eq!(status.description(), "query on orders failed");
    assert_eq!(status.details(), Some("caused by: disk on fire"));
    assert_eq!(query.annotations.len(), 1);
    let exception = &query.annotations[0];
    assert_eq!(exception.description, "exception");
    assert_eq!(
        exception
            .attributes
            .iter()
            .find(|kv| kv.key == "exception.message")
            .map(|kv| &kv.value),
        Some(&Value::from("query on orders failed"))
    );
    assert!(exception.time_unix_nano >= query.start_time_unix_nano);
    assert!(exception.time_unix_nano <= query.end_time_unix_nano);

    let io_span = spans.iter().find(|s| s.name == "io").unwrap();
    assert_eq!(
        io_span.status.as_ref().unwrap().canonical_code(),
        StatusCode::PermissionDenied
    );
    assert_eq!(io_span.annotations[0].description, "exception");
}

#[test]
fn later_status_replaces_earlier_and_unset_is_none() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    {
        let span = tracer.span("retried");
        span.record_error(&io::Error::new(io::ErrorKind::TimedOut, "first try"));
        span.set_status(Status::ok());
    }
    drop(tracer.span("untouched"));
    let spans = flushed(&tracer, &exporter);
    let retried = spans.iter().find(|s| s.name == "retried").unwrap();
    assert_eq!(retried.status, Some(Status::ok()));
    // The exception annotation stays: it happened.
    assert_eq!(retried.annotations.len(), 1);
    let untouched = spans.iter().find(|s| s.name == "untouched").unwrap();
    assert_eq!(untouched.status, None);
}

#[test]
fn record_error_on_an_owned_span_through_the_current_span() {
    let (tracer, exporter) = Tracer::builder().in_memory();
    let owned = tracer.span_builder("owned").start();
    std::thread::spawn(move || {
        let _entered = owned.enter();
        threadline::current_span().record_error(&io::Error::new(
            io::ErrorKind::ConnectionRefused,
            "backend down",
        ));
    })
    .join()
    .unwrap();
    let spans = flushed(&tracer, &exporter);
    assert_eq!(spans.len(), 1);
    let status = spans[0].status.as_ref().expect("status");
    assert_eq!(status.canonical_code(), StatusCode::Unavailable);
    assert_eq!(status.description(), "backend down");
    assert_eq!(spans[0].annotations[0].description, "exception");
}

#[test]
fn record_error_on_an_unsampled_span_does_nothing() {
    let (tracer, exporter) = Tracer::builder()
        .sampler(threadline::AlwaysOffSampler)
        .in_memory();
    {
        let span = tracer.span("off");
        assert!(!span.is_recording());
        span.record_error(&Weird);
    }
    assert!(flushed(&tracer, &exporter).is_empty());
}

/// A writer whose bytes the test can read after the exporter took it.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn status_in_the_span_json_line() {
    let out = SharedBuf::default();
    let tracer = Tracer::builder()
        .simple_exporter(ConsoleExporter::with_writer(
            ConsoleFormat::Json,
            out.clone(),
        ))
        .build();
    {
        let span = tracer.span("failing");
        span.record_error(&io::Error::new(io::ErrorKind::NotFound, "no \"user\" 7"));
    }
    {
        let span = tracer.span("fine");
        span.set_status(Status::ok());
    }
    drop(tracer.span("unset"));
    tracer.flush(Duration::from_secs(10)).unwrap();

    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let line = |name: &str| {
        let needle = format!("\"name\":\"{name}\"");
        *lines
            .iter()
            .find(|l| l.contains(&needle))
            .unwrap_or_else(|| panic!("no line for {name}: {text}"))
    };
    let failing = line("failing");
    assert!(
        failing.contains(r#""status":{"code":5,"name":"NOT_FOUND","message":"no \"user\" 7"}"#),
        "{failing}"
    );
    assert!(
        failing.contains(
            r#""description":"exception","attributes":{"exception.message":"no \"user\" 7"}"#
        ),
        "{failing}"
    );
    assert!(
        line("fine").contains(r#""status":{"code":0,"name":"OK","message":""}"#),
        "{}",
        line("fine")
    );
    assert!(
        line("unset").contains(r#""status":null"#),
        "{}",
        line("unset")
    );
    for l in &lines {
        assert!(l.starts_with('{') && l.ends_with('}'), "{l}");
    }
}
