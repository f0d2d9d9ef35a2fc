//! The seed tutorials' Python programs, run as written against `threadline serve`, their
//! traces read back through the query APIs.
//!
//! - seed 000: OpenCensus 0.1 with its Zipkin exporter, to the Zipkin port;
//! - seed 002: jaeger-client, to the Jaeger agent port (UDP, thrift compact);
//! - seed 004: the OpenTelemetry SDK's OTLP/HTTP exporter, configured only by the `OTEL_*`
//!   variables the tutorial sets.
//!
//! Each trace is read through the Zipkin v2 API and through Jaeger's, and both must show the
//! same spans.
//!
//! The programs are in `scripts/peers/seeds/`. `scripts/ci` installs their libraries into
//! virtual environments under `target/` and passes their Pythons in `THREADLINE_PEERS_PYTHON`
//! and `THREADLINE_SEED_OPENCENSUS_PYTHON`; a plain `cargo test` lists these tests as ignored.

mod support;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;
use support::{get_json, wait_for_accepted, ServerProcess};

fn seed_program(file: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../scripts/peers/seeds")
        .join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs a Python program with the interpreter named by `python_var`, returning its stdout.
fn run_python(python_var: &str, program: &str, env: &[(&str, String)]) -> String {
    let python = std::env::var(python_var)
        .unwrap_or_else(|_| panic!("{python_var} names the peers' python (scripts/ci sets it)"));
    let out = Command::new(python)
        .arg("-c")
        .arg(program)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("the peers' python starts");
    assert!(
        out.status.success(),
        "the seed program failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A span as a query API shows it, reduced to what the checks compare.
#[derive(Debug)]
struct Seen {
    name: String,
    id: String,
    parent: Option<String>,
    service: String,
    tags: BTreeMap<String, String>,
    annotations: Vec<String>,
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The spans of a Zipkin v2 trace (a JSON array of spans).
fn from_zipkin(trace: &Value) -> Vec<Seen> {
    let spans = trace.as_array().expect("a trace is an array");
    spans
        .iter()
        .map(|span| Seen {
            name: text(&span["name"]),
            id: text(&span["id"]),
            parent: span.get("parentId").map(text),
            service: text(&span["localEndpoint"]["serviceName"]),
            tags: span
                .get("tags")
                .and_then(Value::as_object)
                .map(|tags| tags.iter().map(|(k, v)| (k.clone(), text(v))).collect())
                .unwrap_or_default(),
            annotations: span
                .get("annotations")
                .and_then(Value::as_array)
                .map(|list| list.iter().map(|a| text(&a["value"])).collect())
                .unwrap_or_default(),
        })
        .collect()
}

/// The spans of a Jaeger trace (`{traceID, spans, processes}`).
fn from_jaeger(trace: &Value) -> Vec<Seen> {
    let spans = trace["spans"].as_array().expect("spans");
    spans
        .iter()
        .map(|span| {
            let process = text(&span["processID"]);
            let tags = |list: &Value| -> BTreeMap<String, String> {
                list.as_array()
                    .map(|tags| {
                        tags.iter()
                            .map(|tag| (text(&tag["key"]), text(&tag["value"])))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            Seen {
                name: text(&span["operationName"]),
                id: text(&span["spanID"]),
                parent: span["references"].as_array().and_then(|refs| {
                    refs.iter()
                        .find(|r| r["refType"] == "CHILD_OF")
                        .map(|r| text(&r["spanID"]))
                }),
                service: text(&trace["processes"][&process]["serviceName"]),
                tags: tags(&span["tags"]),
                annotations: span["logs"]
                    .as_array()
                    .map(|logs| {
                        logs.iter()
                            .filter_map(|log| tags(&log["fields"]).remove("event"))
                            .collect()
                    })
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The one trace of `service`, read through both query APIs: the Zipkin v2 API on the query
/// port and the Zipkin port (search and by id) and Jaeger's (search and by id). Both must
/// show the same spans (names, parents, services, annotations); the Zipkin view is returned.
fn read_back(server: &ServerProcess, service: &str) -> Vec<Seen> {
    let (trace_id, zipkin) = zipkin_trace(server, service);
    let query = server.address("query http");
    let found = get_json(query, &format!("/api/traces?service={service}&limit=10"));
    let traces = found["data"].as_array().expect("jaeger data");
    assert_eq!(
        traces.len(),
        1,
        "one trace of {service} through Jaeger's API: {found}"
    );
    let by_id = get_json(query, &format!("/api/traces/{trace_id}"));
    let trace = &by_id["data"][0];
    assert_eq!(
        trace["spans"].as_array().map(Vec::len),
        traces[0]["spans"].as_array().map(Vec::len)
    );
    let services = get_json(query, "/api/services");
    assert!(
        services["data"]
            .as_array()
            .is_some_and(|s| s.contains(&Value::from(service))),
        "{service} listed in {services}"
    );
    let jaeger = from_jaeger(trace);
    let outline = |spans: &[Seen]| {
        let mut rows: Vec<_> = spans
            .iter()
            .map(|s| {
                (
                    s.id.clone(),
                    s.parent.clone(),
                    s.name.clone(),
                    s.service.clone(),
                    s.annotations.clone(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(
        outline(&zipkin),
        outline(&jaeger),
        "Zipkin's and Jaeger's views differ"
    );
    zipkin
}

/// The one trace of `service` on the query port, checked to be the same on the Zipkin port,
/// through the search and by id.
fn zipkin_trace(server: &ServerProcess, service: &str) -> (String, Vec<Seen>) {
    let query: SocketAddr = server.address("query http");
    let found = get_json(
        query,
        &format!("/api/v2/traces?serviceName={service}&limit=10"),
    );
    let traces = found.as_array().expect("an array of traces");
    assert_eq!(traces.len(), 1, "one trace of {service}: {found}");
    let trace_id = text(&traces[0][0]["traceId"]);
    let by_id = get_json(
        server.address("zipkin http"),
        &format!("/api/v2/trace/{trace_id}"),
    );
    assert_eq!(
        by_id.as_array().map(Vec::len),
        traces[0].as_array().map(Vec::len),
        "the trace by id on the zipkin port holds the spans the search found"
    );
    let services = get_json(query, "/api/v2/services");
    assert!(
        services
            .as_array()
            .is_some_and(|s| s.contains(&Value::from(service))),
        "{service} listed in {services}"
    );
    (trace_id, from_zipkin(&by_id))
}

fn root_and_children<'a>(spans: &'a [Seen], root_name: &str) -> (&'a Seen, Vec<&'a Seen>) {
    let roots: Vec<&Seen> = spans.iter().filter(|s| s.parent.is_none()).collect();
    assert_eq!(roots.len(), 1, "one root: {spans:?}");
    assert_eq!(roots[0].name, root_name);
    let children = spans
        .iter()
        .filter(|s| s.parent.as_deref() == Some(roots[0].id.as_str()))
        .collect();
    (roots[0], children)
}

#[test]
#[ignore = "needs opencensus 0.1, which scripts/ci installs (THREADLINE_SEED_OPENCENSUS_PYTHON)"]
fn seed_000_opencensus_zipkin_quickstart() {
    let server = ServerProcess::start_on_disk(&[]);
    let zipkin = server.address("zipkin http");
    let written = seed_program("000_opencensus_zipkin.py");
    let program = written.replace("port=9411", &format!("port={}", zipkin.port()));
    assert_ne!(program, written, "the seed names port 9411");
    let out = run_python("THREADLINE_SEED_OPENCENSUS_PYTHON", &program, &[]);
    assert_eq!(out.matches("doing busy work").count(), 10, "{out}");

    let spans = read_back(&server, "python-quickstart");
    assert_eq!(spans.len(), 11, "{spans:?}");
    let (root, children) = root_and_children(&spans, "main");
    assert_eq!(root.service, "python-quickstart");
    assert_eq!(children.len(), 10);
    for child in children {
        assert_eq!(child.name, "doWork");
        assert_eq!(child.service, "python-quickstart");
        assert_eq!(child.annotations, ["invoking doWork"]);
    }
    assert!(server.stop().success());
}

#[test]
#[ignore = "needs the OpenTelemetry SDK, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn seed_004_opentelemetry_otlp_http_with_otel_variables() {
    let server = ServerProcess::start_on_disk(&[]);
    let otlp = server.address("otlp http");
    let env = [
        // the tutorial's variables, pointed at the server instead of Honeycomb
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}/")),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-honeycomb-team=s9ss7f5j5kxtwkypttop4Ugss7tfNYjkjm3P4A".to_string(),
        ),
        ("OTEL_SERVICE_NAME", "addsubtract".to_string()),
    ];
    let out = run_python(
        "THREADLINE_PEERS_PYTHON",
        &seed_program("004_addsubtract.py"),
        &env,
    );
    assert_eq!(out.trim(), "4");

    let spans = read_back(&server, "addsubtract");
    assert_eq!(spans.len(), 4, "{spans:?}");
    let (root, children) = root_and_children(&spans, "addsubtract");
    let mut names: Vec<&str> = children.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["add", "add", "subtract"]);
    for span in children.iter().copied().chain([root]) {
        assert_eq!(span.service, "addsubtract");
        assert_eq!(span.tags["telemetry.sdk.language"], "python");
        assert_eq!(span.tags["otel.scope.name"], "addsubtract");
    }
    assert!(server.stop().success());
}

#[test]
#[ignore = "needs jaeger-client, which scripts/ci installs (THREADLINE_PEERS_PYTHON)"]
fn seed_002_jaeger_client_to_the_agent_port() {
    let server = ServerProcess::start_on_disk(&[]);
    let agent = server.address("jaeger compact udp");
    let env = [
        ("JAEGER_AGENT_HOST", agent.ip().to_string()),
        ("JAEGER_AGENT_PORT", agent.port().to_string()),
    ];
    let out = run_python(
        "THREADLINE_PEERS_PYTHON",
        &seed_program("002_jaeger_client.py"),
        &env,
    );
    // the ids jaeger-client gave each span, as the program printed them
    let printed: Vec<Vec<&str>> = out
        .lines()
        .filter_map(|line| line.strip_prefix("span "))
        .map(|line| line.split(' ').collect())
        .collect();
    assert_eq!(printed.len(), 5, "{out}");

    let query = server.address("query http");
    wait_for_accepted(query, "jaeger compact udp", 5);
    let services = get_json(query, "/api/v2/services");
    assert_eq!(services, serde_json::json!(["first-service"]));
    for row in &printed {
        let (name, trace_id, span_id, parent) = (row[0], row[1], row[2], row[3]);
        let trace = get_json(query, &format!("/api/v2/trace/{trace_id}"));
        let spans = from_zipkin(&trace);
        let span = spans
            .iter()
            .find(|s| s.id == span_id)
            .unwrap_or_else(|| panic!("{name} {span_id} in {trace}"));
        assert_eq!(span.name, name);
        assert_eq!(span.service, "first-service");
        let expected_parent = (parent != "0000000000000000").then(|| parent.to_string());
        assert_eq!(span.parent, expected_parent, "{name}");
        // every span has its `<ordinal>-tag`, as the tutorial set them
        let tag = format!("{}-tag", name.trim_end_matches("-span"));
        assert!(span.tags.contains_key(&tag), "{name}: {:?}", span.tags);

        let jaeger = get_json(query, &format!("/api/traces/{trace_id}"));
        let jaeger_spans = from_jaeger(&jaeger["data"][0]);
        let same = jaeger_spans
            .iter()
            .find(|s| s.id == span_id)
            .unwrap_or_else(|| panic!("{name} {span_id} through Jaeger's API: {jaeger}"));
        assert_eq!(
            (&same.name, &same.parent, &same.service, same.tags.get(&tag)),
            (&span.name, &span.parent, &span.service, span.tags.get(&tag))
        );
    }
    // the tutorial's point: only `fifth-span` is a child (of `fourth-span`); the others are
    // traces of their own
    let children: Vec<&str> = printed
        .iter()
        .filter(|row| row[3] != "0000000000000000")
        .map(|row| row[0])
        .collect();
    assert_eq!(children, ["fifth-span"]);
    let fourth = printed
        .iter()
        .find(|row| row[0] == "fourth-span")
        .expect("fourth");
    let fifth = printed
        .iter()
        .find(|row| row[0] == "fifth-span")
        .expect("fifth");
    assert_eq!((fifth[1], fifth[3]), (fourth[1], fourth[2]));
    assert!(server.stop().success());
}
