//! Context propagation end to end: `OTEL_PROPAGATORS` read through a lookup function, and
//! spans started from extracted parents in every format.

use std::collections::HashMap;
use std::time::Duration;

use threadline::config::{lookup_from, EnvConfig};
use threadline::propagation::{
    propagator_from_lookup, B3Propagator, Baggage, BaggagePropagator, BinaryPropagator,
    CloudTracePropagator, CompositePropagator, JaegerPropagator, PropagationContext, Propagator,
    TraceContextPropagator,
};
use threadline::{AlwaysOffSampler, ParentBasedSampler, SpanContext, SpanKind, Tracer};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    lookup_from(headers(pairs))
}

fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn otel_propagators_default_is_tracecontext_and_baggage() {
    let config = EnvConfig::from_lookup(vars(&[]));
    assert_eq!(config.propagators, ["tracecontext", "baggage"]);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let tracer = config.into_builder().build();
    assert_eq!(
        tracer.propagator().fields(),
        ["traceparent", "tracestate", "baggage"]
    );
}

#[test]
fn otel_propagators_list_with_aliases_and_unknown_names() {
    let config = EnvConfig::from_lookup(vars(&[
        ("OTEL_TRACES_EXPORTER", "none"),
        (
            "OTEL_PROPAGATORS",
            "tracecontext, B3MULTI, jaeger, gcp, binary, xray, ottrace, baggage, tracecontext",
        ),
    ]));
    assert_eq!(
        config.propagators,
        [
            "tracecontext",
            "b3multi",
            "jaeger",
            "cloudtrace",
            "ocbinary",
            "baggage"
        ]
    );
    assert_eq!(config.warnings.len(), 2, "{:?}", config.warnings);
    assert!(config.warnings[0].contains("OTEL_PROPAGATORS"));
    assert!(config.warnings[0].contains("\"xray\""));
    assert!(config.warnings[1].contains("\"ottrace\""));
    let tracer = config.into_builder().build();
    let fields = tracer.propagator().fields();
    for field in [
        "traceparent",
        "x-b3-traceid",
        "uber-trace-id",
        "x-cloud-trace-context",
        "grpc-trace-bin",
        "baggage",
    ] {
        assert!(fields.contains(&field.to_string()), "{field} in {fields:?}");
    }
}

#[test]
fn otel_propagators_none_propagates_nothing() {
    let (propagator, warnings) = propagator_from_lookup(vars(&[("OTEL_PROPAGATORS", "none")]));
    assert!(warnings.is_empty());
    assert!(propagator.is_empty());
    let config = EnvConfig::from_lookup(vars(&[("OTEL_PROPAGATORS", "none")]));
    let tracer = config.into_builder().build();
    let carrier = headers(&[("traceparent", &format!("00-{TRACE_ID}-{SPAN_ID}-01"))]);
    assert!(tracer.propagator().extract(&carrier).is_empty());
}

/// A format's name, its propagator, and a carrier in that format.
type Case = (&'static str, Box<dyn Propagator>, HashMap<String, String>);

/// The headers each format uses to carry trace `TRACE_ID`, parent `SPAN_ID`, `sampled`.
fn carriers(sampled: bool) -> Vec<Case> {
    let flag = if sampled { "1" } else { "0" };
    let span_decimal = u64::from_str_radix(SPAN_ID, 16).unwrap().to_string();
    let mut binary = HashMap::new();
    BinaryPropagator.inject(
        &PropagationContext::new(
            SpanContext::from_hex(
                TRACE_ID,
                SPAN_ID,
                threadline::TraceOptions::default().with_sampled(sampled),
            )
            .unwrap(),
        ),
        &mut binary,
    );
    vec![
        (
            "tracecontext",
            Box::new(TraceContextPropagator),
            headers(&[("traceparent", &format!("00-{TRACE_ID}-{SPAN_ID}-0{flag}"))]),
        ),
        (
            "b3",
            Box::new(B3Propagator::single()),
            headers(&[("b3", &format!("{TRACE_ID}-{SPAN_ID}-{flag}"))]),
        ),
        (
            "b3multi",
            Box::new(B3Propagator::multi()),
            headers(&[
                ("X-B3-TraceId", TRACE_ID),
                ("X-B3-SpanId", SPAN_ID),
                ("X-B3-Sampled", flag),
            ]),
        ),
        (
            "jaeger",
            Box::new(JaegerPropagator),
            headers(&[("uber-trace-id", &format!("{TRACE_ID}:{SPAN_ID}:0:{flag}"))]),
        ),
        (
            "cloudtrace",
            Box::new(CloudTracePropagator),
            headers(&[(
                "X-Cloud-Trace-Context",
                &format!("{TRACE_ID}/{span_decimal};o={flag}"),
            )]),
        ),
        ("ocbinary", Box::new(BinaryPropagator), binary),
    ]
}

#[test]
fn a_span_under_an_extracted_parent_continues_the_remote_trace() {
    for (name, propagator, carrier) in carriers(true) {
        // A root sampler that records nothing: only the remote sampled flag can record.
        let (tracer, spans) = Tracer::builder()
            .sampler(ParentBasedSampler::new(AlwaysOffSampler))
            .in_memory();
        let extracted = propagator.extract(&carrier);
        let parent = extracted.span_context.expect(name);
        assert!(parent.from_header(), "{name}");
        {
            let _server = tracer
                .span_builder("handle")
                .kind(SpanKind::Server)
                .parent(parent)
                .enter();
            let _child = tracer.span("child");
        }
        tracer.flush(Duration::from_secs(5)).unwrap();
        let spans = spans.spans();
        assert_eq!(spans.len(), 2, "{name}");
        let server = spans.iter().find(|s| s.name == "handle").unwrap();
        assert_eq!(server.trace_id.to_string(), TRACE_ID, "{name}");
        assert_eq!(
            server.parent_span_id.map(|id| id.to_string()).as_deref(),
            Some(SPAN_ID),
            "{name}"
        );
        assert!(server.parent_is_remote, "{name}");
        let child = spans.iter().find(|s| s.name == "child").unwrap();
        assert_eq!(child.parent_span_id, Some(server.span_id), "{name}");
        assert!(!child.parent_is_remote, "{name}");
    }
}

#[test]
fn an_unsampled_remote_parent_is_respected_by_the_default_sampler() {
    for (name, propagator, carrier) in carriers(false) {
        let (tracer, spans) = Tracer::builder().in_memory();
        let parent = propagator.extract(&carrier).span_context.expect(name);
        assert!(!parent.is_sampled(), "{name}");
        {
            let _context = tracer.attach(&parent);
            let server = tracer.span("handle");
            assert!(!server.is_recording(), "{name}");
            assert_eq!(server.context().trace_id().to_string(), TRACE_ID, "{name}");
        }
        tracer.flush(Duration::from_secs(5)).unwrap();
        assert!(spans.spans().is_empty(), "{name}");
    }
}

#[test]
fn attached_remote_context_is_the_parent_of_plain_spans() {
    let (tracer, spans) = Tracer::builder()
        .sampler(ParentBasedSampler::new(AlwaysOffSampler))
        .in_memory();
    let carrier = headers(&[
        ("traceparent", &format!("00-{TRACE_ID}-{SPAN_ID}-01")),
        ("tracestate", "congo=t61rcWkgMzE"),
    ]);
    let extracted = tracer.propagator().extract(&carrier);
    {
        let _remote = tracer.attach(extracted.span_context.as_ref().unwrap());
        let _server = tracer.span("handle");
    }
    tracer.flush(Duration::from_secs(5)).unwrap();
    let spans = spans.spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].trace_id.to_string(), TRACE_ID);
    assert_eq!(spans[0].parent_span_id.unwrap().to_string(), SPAN_ID);
    assert_eq!(spans[0].trace_state.get("congo"), Some("t61rcWkgMzE"));
}

#[test]
fn injection_carries_the_current_span_and_baggage_onward() {
    let (tracer, _spans) = Tracer::builder().in_memory();
    let propagator = CompositePropagator::w3c().with(B3Propagator::multi());
    let incoming = propagator.extract(&headers(&[
        ("traceparent", &format!("00-{TRACE_ID}-{SPAN_ID}-01")),
        ("baggage", "user=ada,tier=gold;ttl=60"),
    ]));
    assert_eq!(incoming.baggage.get("user"), Some("ada"));
    let _baggage = incoming.baggage.clone().attach();
    let _remote = tracer.attach(incoming.span_context.as_ref().unwrap());
    let client = tracer.span("call downstream");
    let mut outgoing = HashMap::new();
    propagator.inject(&PropagationContext::current(), &mut outgoing);
    assert_eq!(
        outgoing["traceparent"],
        format!("00-{TRACE_ID}-{}-01", client.span_id())
    );
    assert_eq!(outgoing["x-b3-spanid"], client.span_id().to_string());
    assert_eq!(outgoing["baggage"], "user=ada,tier=gold;ttl=60");
    assert_eq!(Baggage::current().get("tier"), Some("gold"));
}

#[test]
fn baggage_does_not_leak_to_other_threads() {
    let mut baggage = Baggage::new();
    baggage.insert("k", "v").unwrap();
    let _guard = baggage.attach();
    let other = std::thread::spawn(|| Baggage::current().is_empty())
        .join()
        .unwrap();
    assert!(other);
    let mut carrier = HashMap::new();
    BaggagePropagator.inject(&PropagationContext::current(), &mut carrier);
    assert_eq!(carrier["baggage"], "k=v");
}

#[cfg(feature = "http")]
#[test]
fn header_map_carries_every_format() {
    for (name, propagator, carrier) in carriers(true) {
        let extracted = propagator.extract(&carrier);
        let mut map = http::HeaderMap::new();
        propagator.inject(&extracted, &mut map);
        let back = propagator.extract(&map);
        assert_eq!(back.span_context, extracted.span_context, "{name}");
    }
}

#[test]
fn baggage_follows_a_future_across_awaits_and_threads() {
    use threadline::FutureExt;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let mut baggage = Baggage::new();
    baggage.insert("tenant", "acme").unwrap();
    let (seen, after) = runtime.block_on(async move {
        let seen = tokio::spawn(
            async {
                let mut seen = Vec::new();
                for _ in 0..20 {
                    seen.push(Baggage::current().get("tenant").map(str::to_string));
                    tokio::task::yield_now().await;
                }
                seen
            }
            .with_baggage(baggage),
        )
        .await
        .unwrap();
        let after = tokio::spawn(async { Baggage::current().is_empty() })
            .await
            .unwrap();
        (seen, after)
    });
    assert_eq!(seen.len(), 20);
    assert!(
        seen.iter().all(|v| v.as_deref() == Some("acme")),
        "{seen:?}"
    );
    assert!(
        after,
        "a worker thread kept the baggage after the future's poll"
    );
}
