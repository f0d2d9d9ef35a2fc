//! Spans received over OTLP/HTTP and Zipkin, read back through Jaeger's query API, its api_v3
//! gateway, and both dependency endpoints; Jaeger's search semantics against Zipkin's; what
//! bad parameters are answered; the query latency histograms.

mod common;
#[path = "common/jaeger_query.rs"]
mod jaeger_query;
#[path = "../../threadline-wire/tests/zipkin_spec/mod.rs"]
mod zipkin_spec;

use std::sync::Arc;

use common::{get, get_json, sample_trace, TestServer};
use jaeger_query::{
    check_sample_trace, decode_traces, jaeger_error, jaeger_ok, jaeger_trace, span_named, tag,
    v3_error, v3_spans,
};
use serde_json::{json, Value as Json};
use threadline::{Annotation, Exporter, KeyValue, SpanData, Status, StatusCode, Value};
use threadline_export::{
    Compression, OtlpConfig, OtlpExporter, OtlpProtocol, ZipkinConfig, ZipkinEncoding,
    ZipkinExporter,
};
use threadline_server::store::SpanStore;
use threadline_wire::jaeger::json::trace_id_text;

/// The sample trace with typed attributes on the root, a failed `charge` with a log, and
/// a resource attribute.
fn rich_trace(trace_id: u128) -> Vec<SpanData> {
    let mut spans = sample_trace(trace_id);
    let root = &mut spans[0];
    root.attributes.push(KeyValue::new("http.status_code", 200));
    root.attributes.push(KeyValue::new("cache.hit", false));
    root.attributes.push(KeyValue::new("ratio", 0.25));
    let mut frontend = (*root.resource).clone();
    frontend
        .attributes
        .push(KeyValue::new("host.name", "web-1"));
    root.resource = Arc::new(frontend);
    let charge = &mut spans[1];
    charge.status = Some(Status::new(StatusCode::Unknown, "card declined"));
    charge.annotations.push(Annotation {
        time_unix_nano: charge.start_time_unix_nano + 500_000,
        description: "retry".into(),
        attributes: vec![KeyValue::new("attempt", 2)],
        dropped_attributes_count: 0,
    });
    spans
}

fn send_otlp(server: &TestServer, spans: &[SpanData]) {
    let mut exporter = OtlpExporter::new(OtlpConfig {
        endpoint: format!("http://{}/v1/traces", server.otlp_http),
        protocol: OtlpProtocol::HttpProtobuf,
        compression: Compression::None,
        ..OtlpConfig::default()
    })
    .expect("exporter");
    exporter.export(spans).expect("export");
    assert_eq!(exporter.rejected_spans(), 0);
}

fn send_zipkin(server: &TestServer, spans: &[SpanData]) {
    let mut exporter = ZipkinExporter::new(ZipkinConfig {
        endpoint: format!("http://{}/api/v2/spans", server.zipkin),
        encoding: ZipkinEncoding::Json,
        ..ZipkinConfig::default()
    })
    .expect("exporter");
    exporter.export(spans).expect("export");
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
}

/// An RFC 3339 time `seconds` from now, for api_v3 windows.
fn rfc3339_from_now(seconds: i64) -> String {
    let at = (now_ms() / 1000) as i64 + seconds;
    let (days, secs) = (at.div_euclid(86_400), at.rem_euclid(86_400));
    // civil from days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// `[{parent, child, callCount, errorCount}]` as zipkin2-api.yaml's `DependencyLink` says.
fn dependency_links_validator() -> jsonschema::Validator {
    let path = zipkin_spec::specs_dir().join("zipkin/zipkin2-api.yaml");
    let text = std::fs::read_to_string(&path).expect("the Zipkin API spec");
    let api: serde_yaml::Value = serde_yaml::from_str(&text).expect("yaml");
    let link: Json = serde_json::to_value(&api["definitions"]["DependencyLink"]).expect("json");
    let schema = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "array",
        "items": link,
    });
    jsonschema::draft4::options()
        .build(&schema)
        .expect("schema compiles")
}

#[test]
fn every_jaeger_endpoint_reads_back_otlp_spans() {
    let server = TestServer::start();
    let sent = rich_trace(0xa1);
    send_otlp(&server, &sent);
    let id = trace_id_text(threadline::TraceId(0xa1));
    assert_eq!(id, "00000000000000a1");

    let services = jaeger_ok(server.query, "/api/services");
    assert_eq!(services["data"], json!(["backend", "frontend"]));
    let names = jaeger_ok(server.query, "/api/services/backend/operations");
    assert_eq!(names["data"], json!(["charge", "select"]));
    let operations = jaeger_ok(server.query, "/api/operations?service=backend");
    assert_eq!(
        operations["data"],
        json!([{"name": "charge", "spanKind": "server"}, {"name": "select", "spanKind": "client"}])
    );
    let clients = jaeger_ok(
        server.query,
        "/api/operations?service=backend&spanKind=client",
    );
    assert_eq!(
        clients["data"],
        json!([{"name": "select", "spanKind": "client"}])
    );

    let (trace, decoded) = jaeger_trace(server.query, &id);
    check_sample_trace(&trace, 0xa1);
    let root = span_named(&trace, "get /checkout");
    assert_eq!(tag(root, "http.status_code"), ("int64".into(), json!(200)));
    assert_eq!(tag(root, "cache.hit"), ("bool".into(), json!(false)));
    assert_eq!(tag(root, "ratio"), ("float64".into(), json!(0.25)));
    let process = &trace["processes"][root["processID"].as_str().expect("processID")];
    assert!(
        process["tags"]
            .as_array()
            .expect("process tags")
            .contains(&json!({"key": "host.name", "type": "string", "value": "web-1"})),
        "{process}"
    );
    let charge = span_named(&trace, "charge");
    assert_eq!(tag(charge, "error"), ("bool".into(), json!(true)));
    assert_eq!(
        tag(charge, "otel.status_code"),
        ("string".into(), json!("ERROR"))
    );
    assert_eq!(
        tag(charge, "otel.status_description"),
        ("string".into(), json!("card declined"))
    );
    // logs in time order: the sample's `charged`, then this test's `retry`
    let logs = charge["logs"].as_array().expect("logs");
    assert_eq!(logs.len(), 2, "{charge}");
    assert_eq!(logs[0]["fields"][0]["value"], "charged");
    let log = &logs[1];
    assert_eq!(
        log["timestamp"],
        (sent[1].annotations[1].time_unix_nano / 1000)
    );
    assert_eq!(
        log["fields"],
        json!([{"key": "event", "type": "string", "value": "retry"},
               {"key": "attempt", "type": "int64", "value": 2}])
    );
    assert_eq!(
        charge["startTime"],
        sent[1].start_time_unix_nano / 1000,
        "microseconds"
    );
    // decoded, the spans mean what was sent
    for span in &sent {
        let back = decoded
            .iter()
            .find(|s| s.span_id == span.span_id)
            .expect("span");
        assert_eq!(back.name, span.name);
        assert_eq!(back.parent_span_id, span.parent_span_id);
        assert_eq!(back.kind, span.kind);
        assert_eq!(back.status, span.status);
        assert_eq!(back.resource, span.resource);
        assert_eq!(back.attributes, span.attributes);
        assert_eq!(back.annotations.len(), span.annotations.len());
    }
    assert_eq!(decoded[0].attributes[2].key, "http.status_code");
    assert_eq!(decoded[0].attributes[2].value, Value::I64(200));

    let found = jaeger_ok(server.query, "/api/traces?service=backend&limit=20");
    let traces = found["data"].as_array().expect("traces");
    assert_eq!(traces.len(), 1, "{found}");
    check_sample_trace(&traces[0], 0xa1);

    // by id: the ones found, and an error for each one missing
    let reply = get(
        server.query,
        &format!("/api/traces?traceID={id}&traceID=ffff"),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let answer: Json = serde_json::from_str(&reply.body).expect("json");
    jaeger_query::check_envelope(&answer, "traceID");
    assert_eq!(decode_traces(&answer).len(), 1);
    assert_eq!(
        answer["errors"],
        json!([{"msg": "trace not found", "traceID": "000000000000ffff"}])
    );

    let dependencies = jaeger_ok(server.query, "/api/dependencies");
    assert_eq!(
        dependencies["data"],
        json!([{"parent": "frontend", "child": "backend", "callCount": 1}])
    );
    let end_ts = now_ms() + 1000;
    let zipkin = get_json(
        server.query,
        &format!("/api/v2/dependencies?endTs={end_ts}&lookback=3600000"),
    );
    assert_eq!(
        zipkin,
        json!([{"parent": "frontend", "child": "backend", "callCount": 1, "errorCount": 1}])
    );
    let validator = dependency_links_validator();
    assert!(validator.is_valid(&zipkin), "{zipkin}");
    assert!(!validator.is_valid(&json!([{"parent": "a"}])));
    let hour_ago = end_ts - 3_600_000;
    assert_eq!(
        get_json(
            server.query,
            &format!("/api/v2/dependencies?endTs={hour_ago}&lookback=60000")
        ),
        json!([])
    );
    let zipkin_trace = get_json(server.query, &format!("/api/v2/trace/{id}"));
    let spans_validator = zipkin_spec::list_of_spans_validator();
    assert!(spans_validator.is_valid(&zipkin_trace), "{zipkin_trace}");
}

#[test]
fn api_v3_answers_otlp_json() {
    let server = TestServer::start();
    let sent = rich_trace(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c);
    send_otlp(&server, &sent);
    let id = "0af7651916cd43dd8448eb211c80319c";

    let services: Json =
        serde_json::from_str(&get(server.query, "/api/v3/services").body).expect("json");
    assert_eq!(services, json!({"services": ["backend", "frontend"]}));
    let operations: Json = serde_json::from_str(
        &get(
            server.query,
            "/api/v3/operations?service=backend&span_kind=server",
        )
        .body,
    )
    .expect("json");
    assert_eq!(
        operations,
        json!({"operations": [{"name": "charge", "spanKind": "server"}]})
    );

    // the trace as stored: OTLP keeps everything
    let mut stored = server
        .store
        .trace(threadline::TraceId(
            0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
        ))
        .expect("store")
        .expect("trace");
    let mut read = v3_spans(server.query, &format!("/api/v3/traces/{id}"));
    stored.sort_by_key(|s| s.span_id);
    read.sort_by_key(|s| s.span_id);
    assert_eq!(read, stored);

    let window = format!(
        "query.start_time_min={}&query.start_time_max={}",
        rfc3339_from_now(-3600),
        rfc3339_from_now(3600)
    );
    let found = v3_spans(
        server.query,
        &format!(
            "/api/v3/traces?query.service_name=backend&{window}&query.attributes=%7B%22db.system%22%3A%22postgresql%22%7D"
        ),
    );
    assert_eq!(found.len(), 3);
    // one span must meet the operation and the duration together
    let message = v3_error(
        server.query,
        &format!(
            "/api/v3/traces?query.service_name=backend&query.operation_name=select&query.duration_min=1ms&{window}"
        ),
        404,
    );
    assert_eq!(message, "no traces found");
    let found = v3_spans(
        server.query,
        &format!(
            "/api/v3/traces?query.service_name=backend&query.operation_name=charge&query.duration_min=1ms&{window}"
        ),
    );
    assert_eq!(found.len(), 3);

    let dependencies: Json = serde_json::from_str(
        &get(
            server.query,
            &format!(
                "/api/v3/dependencies?start_time={}&end_time={}",
                rfc3339_from_now(-3600),
                rfc3339_from_now(3600)
            ),
        )
        .body,
    )
    .expect("json");
    assert_eq!(
        dependencies,
        json!({"dependencies": [{"parent": "frontend", "child": "backend", "callCount": "1"}]})
    );
}

#[test]
fn jaeger_search_needs_one_span_to_meet_every_condition_and_zipkins_does_not() {
    let server = TestServer::start();
    // sent over Zipkin this time: backend's charge lasts 2ms and has payment.provider,
    // select lasts 0.5ms and has db.system
    send_zipkin(&server, &sample_trace(0xc1));
    let jaeger = |query: &str| {
        let answer = jaeger_ok(
            server.query,
            &format!("/api/traces?service=backend&{query}"),
        );
        answer["data"].as_array().expect("traces").len()
    };
    let zipkin = |query: &str| {
        get_json(
            server.query,
            &format!("/api/v2/traces?serviceName=backend&{query}"),
        )
        .as_array()
        .expect("traces")
        .len()
    };
    assert_eq!(jaeger("tag=db.system:postgresql"), 1);
    assert_eq!(jaeger("tag=db.system:postgresql&minDuration=1ms"), 0);
    assert_eq!(
        zipkin("annotationQuery=db.system%3Dpostgresql&minDuration=1000"),
        1
    );
    assert_eq!(jaeger("operation=select&minDuration=1ms"), 0);
    assert_eq!(zipkin("spanName=select&minDuration=1000"), 1);
    assert_eq!(jaeger("operation=charge&minDuration=1ms"), 1);
    assert_eq!(jaeger("operation=charge&maxDuration=1.5ms"), 0);
    assert_eq!(
        jaeger("tags=%7B%22payment.provider%22%3A%22acme%22%7D&minDuration=1.5ms"),
        1
    );
    assert_eq!(jaeger("tags=%7B%22payment.provider%22%3A%22other%22%7D"), 0);
    let end_us = now_ms() * 1000 - 3_600_000_000;
    assert_eq!(jaeger(&format!("end={end_us}")), 0);
    assert_eq!(jaeger("service=frontend"), 1);

    let (trace, _) = jaeger_trace(server.query, "c1");
    check_sample_trace(&trace, 0xc1);
}

#[test]
fn bad_parameters_are_400_in_jaegers_error_shapes() {
    let server = TestServer::start();
    send_zipkin(&server, &sample_trace(0xd1));
    for (path, message) in [
        (
            "/api/traces",
            "service is missing: search with service, or ask for traceID",
        ),
        (
            "/api/traces?service=backend&minDuration=100",
            r#"minDuration "100" is not a duration such as 100ms, 1.5s or 2m"#,
        ),
        (
            "/api/traces?service=backend&limit=ten",
            r#"limit "ten" is not a non-negative whole number"#,
        ),
        (
            "/api/traces?service=backend&tag=novalue",
            r#"tag "novalue" is not key:value"#,
        ),
        (
            "/api/traces?service=backend&tags=%5B1%5D",
            "tags is not a JSON object of strings: invalid type: sequence, expected a map at line 1 column 0",
        ),
        (
            "/api/traces?traceID=xyz",
            r#"traceID "xyz" is not 1 to 32 hex digits, not all zeros"#,
        ),
        (
            "/api/traces/xyz",
            r#"traceID "xyz" is not 1 to 32 hex digits, not all zeros"#,
        ),
        ("/api/operations", "service is missing"),
        (
            "/api/operations?service=backend&spanKind=sideways",
            r#"spanKind "sideways" is not server, client, producer, consumer or internal"#,
        ),
        (
            "/api/dependencies?endTs=soon",
            r#"endTs "soon" is not a non-negative whole number"#,
        ),
    ] {
        assert_eq!(jaeger_error(server.query, path, 400), message, "{path}");
    }
    assert_eq!(
        jaeger_error(server.query, "/api/traces/abc123", 404),
        "trace abc123 not found"
    );

    assert_eq!(
        v3_error(
            server.query,
            "/api/v3/traces?query.service_name=backend",
            400
        ),
        "query.start_time_min and query.start_time_max are required"
    );
    assert!(v3_error(
        server.query,
        "/api/v3/traces?query.start_time_min=yesterday&query.start_time_max=2024-01-01T00:00:00Z",
        400
    )
    .starts_with(r#"query.start_time_min "yesterday" is not an RFC 3339 time"#));
    assert_eq!(
        v3_error(server.query, "/api/v3/traces/nothex", 400),
        r#"trace_id "nothex" is not 1 to 32 hex digits, not all zeros"#
    );
    assert_eq!(
        v3_error(server.query, "/api/v3/traces/ffff", 404),
        "trace ffff not found"
    );
    assert_eq!(
        v3_error(server.query, "/api/v3/operations", 400),
        "service is missing"
    );

    let reply = get(server.query, "/api/v2/dependencies");
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (400, "endTs is missing")
    );
}

#[test]
fn query_latency_is_measured_per_api() {
    let server = TestServer::start();
    jaeger_ok(server.query, "/api/services");
    jaeger_error(server.query, "/api/traces", 400);
    get_json(server.query, "/api/v2/services");
    get(server.query, "/api/v3/services");
    get(server.query, "/health");
    let metrics = get(server.query, "/metrics");
    assert_eq!(metrics.status, 200);
    let value = |line_start: &str| -> f64 {
        metrics
            .body
            .lines()
            .find_map(|l| l.strip_prefix(line_start))
            .unwrap_or_else(|| panic!("{line_start} missing:\n{}", metrics.body))
            .trim()
            .parse()
            .expect("a number")
    };
    assert_eq!(
        value("threadline_query_duration_seconds_count{api=\"jaeger\"}"),
        2.0
    );
    assert_eq!(
        value("threadline_query_duration_seconds_count{api=\"zipkin\"}"),
        1.0
    );
    assert_eq!(
        value("threadline_query_duration_seconds_count{api=\"jaeger_v3\"}"),
        1.0
    );
    assert_eq!(
        value("threadline_query_duration_seconds_bucket{api=\"jaeger\",le=\"+Inf\"}"),
        2.0
    );
    assert!(value("threadline_query_duration_seconds_sum{api=\"jaeger\"}") > 0.0);
    assert!(metrics
        .body
        .lines()
        .any(|l| l == "# TYPE threadline_query_duration_seconds histogram"));
}
