//! Interoperability of every propagation format with real third-party propagators, in both
//! directions: the OpenTelemetry Python API (W3C Trace Context, W3C Baggage), opencensus
//! (B3 single and multi, Google Cloud `X-Cloud-Trace-Context`, the `grpc-trace-bin` binary
//! format) and jaeger-client (`uber-trace-id`, `uberctx-` baggage, plain and URL-encoded).
//!
//! The peers read the headers we inject and report what they extracted; they inject their
//! own headers for the same contexts, and we extract those. `scripts/ci` installs the peers
//! into a virtual environment under `target/` and passes its Python in
//! `THREADLINE_PEERS_PYTHON`; a plain `cargo test` lists this test as ignored.

#[path = "../../threadline-wire/tests/peers/mod.rs"]
mod peers;

use std::collections::HashMap;

use serde_json::{json, Value};
use threadline::propagation::{
    B3Propagator, Baggage, BaggagePropagator, BinaryPropagator, CloudTracePropagator,
    JaegerPropagator, PropagationContext, Propagator, TraceContextPropagator,
};
use threadline::{SpanContext, SpanId, TraceId, TraceOptions, TraceState};

const PEER: &str = r#"
import base64, json, sys
from opentelemetry import baggage as otel_baggage, trace
from opentelemetry.baggage.propagation import W3CBaggagePropagator
from opentelemetry.trace import NonRecordingSpan, SpanContext as OtelContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opencensus.trace.propagation.b3_format import B3FormatPropagator
from opencensus.trace.propagation.binary_format import BinaryFormatPropagator
from opencensus.trace.propagation.google_cloud_format import GoogleCloudFormatPropagator
from opencensus.trace.span_context import SpanContext as OcContext
from opencensus.trace.trace_options import TraceOptions
from jaeger_client import SpanContext as JaegerContext
from jaeger_client.codecs import TextCodec

class Headers(dict):
    """HTTP headers: names compared without regard to case."""
    def get(self, key, default=None):
        for k, v in self.items():
            if k.lower() == key.lower():
                return v
        return default

def ids(trace_id, span_id, sampled, **extra):
    return dict(trace_id=format(trace_id, "032x"), span_id=format(span_id, "016x"), sampled=bool(sampled), **extra)

def oc_ids(sc):
    if not sc.from_header:
        return None
    return dict(trace_id=sc.trace_id, span_id=sc.span_id, sampled=bool(sc.trace_options.enabled))

def extract(fmt, h):
    h = Headers(h)
    if fmt == "tracecontext":
        sc = trace.get_current_span(TraceContextTextMapPropagator().extract(carrier=h)).get_span_context()
        return ids(sc.trace_id, sc.span_id, sc.trace_flags.sampled, tracestate=sc.trace_state.to_header()) if sc.is_valid else None
    if fmt in ("b3", "b3multi"):
        return oc_ids(B3FormatPropagator().from_headers(h))
    if fmt == "cloudtrace":
        return oc_ids(GoogleCloudFormatPropagator().from_headers(h))
    if fmt == "ocbinary":
        return oc_ids(BinaryFormatPropagator().from_header(base64.b64decode(h.get("grpc-trace-bin"))))
    if fmt in ("jaeger", "jaeger-urlencoded"):
        sc = TextCodec(url_encoding=fmt.endswith("urlencoded")).extract(h)
        return ids(sc.trace_id, sc.span_id, sc.flags & 1, baggage=sc.baggage or {})
    raise ValueError(fmt)

def inject(fmt, c, bag):
    trace_id, span_id, sampled = int(c["trace_id"], 16), int(c["span_id"], 16), c["sampled"]
    oc_options = TraceOptions()
    oc_options.set_enabled(sampled)
    oc = OcContext(trace_id=c["trace_id"], span_id=c["span_id"], trace_options=oc_options)
    carrier = {}
    if fmt == "tracecontext":
        span = NonRecordingSpan(OtelContext(trace_id, span_id, False, TraceFlags(1 if sampled else 0), TraceState([("congo", "t61rcWkgMzE")])))
        TraceContextTextMapPropagator().inject(carrier, context=trace.set_span_in_context(span))
    elif fmt == "b3multi":
        carrier = B3FormatPropagator().to_headers(oc)
    elif fmt == "cloudtrace":
        carrier = GoogleCloudFormatPropagator().to_headers(oc)
    elif fmt == "ocbinary":
        carrier = {"grpc-trace-bin": base64.b64encode(BinaryFormatPropagator().to_header(oc)).decode()}
    elif fmt in ("jaeger", "jaeger-urlencoded"):
        codec = TextCodec(url_encoding=fmt.endswith("urlencoded"))
        codec.inject(JaegerContext(trace_id, span_id, None, 1 if sampled else 0, baggage=dict(bag)), carrier)
    else:
        raise ValueError(fmt)
    return carrier

request = json.load(sys.stdin)
out = {"extracted": {}, "injected": {}}
for fmt, carriers in request["ours"].items():
    out["extracted"][fmt] = [extract(fmt, h) for h in carriers]
for fmt in request["peer_formats"]:
    out["injected"][fmt] = [inject(fmt, c, request["peer_baggage"]) for c in request["contexts"]]
ctx = W3CBaggagePropagator().extract(carrier=Headers(request["our_baggage_header"]))
out["baggage_extracted"] = {k: str(v) for k, v in otel_baggage.get_all(ctx).items()}
ctx = None
for k, v in request["peer_baggage"].items():
    ctx = otel_baggage.set_baggage(k, v, ctx)
carrier = {}
W3CBaggagePropagator().inject(carrier, context=ctx)
out["baggage_injected"] = carrier
json.dump(out, sys.stdout)
"#;

/// The contexts both sides propagate: short ids (leading zero digits, which Jaeger drops),
/// full-width ids, sampled and not, and random ones.
fn contexts() -> Vec<SpanContext> {
    let mut contexts = vec![
        SpanContext::new(
            TraceId(0x4bf92f3577b34da6a3ce929d0e0e4736),
            SpanId(0x00f067aa0ba902b7),
            TraceOptions::SAMPLED,
        ),
        SpanContext::new(TraceId(0xabc), SpanId(0x1), TraceOptions::NOT_SAMPLED),
        SpanContext::new(TraceId(u128::MAX), SpanId(u64::MAX), TraceOptions::SAMPLED),
        SpanContext::new(
            TraceId(0x0000000000000000a3ce929d0e0e4736),
            SpanId(0x0f067aa0ba902b70),
            TraceOptions::NOT_SAMPLED,
        ),
    ];
    for i in 0..8 {
        contexts.push(SpanContext::new(
            TraceId::random(),
            SpanId::random(),
            TraceOptions::default().with_sampled(i % 2 == 0),
        ));
    }
    contexts
}

#[test]
#[ignore = "needs the Python peers: THREADLINE_PEERS_PYTHON (scripts/ci sets it)"]
fn every_format_interoperates_with_the_python_peers() {
    let contexts = contexts();
    let tracestate = TraceState::from_header("rojo=00f067aa0ba902b7,congo=t61rcWkgMzE").unwrap();
    let propagator_for = |format: &str| -> Box<dyn Propagator> {
        match format {
            "tracecontext" => Box::new(TraceContextPropagator),
            "b3" => Box::new(B3Propagator::single()),
            "b3multi" => Box::new(B3Propagator::multi()),
            "cloudtrace" => Box::new(CloudTracePropagator),
            "ocbinary" => Box::new(BinaryPropagator),
            _ => Box::new(JaegerPropagator),
        }
    };
    let our_formats = [
        "tracecontext",
        "b3",
        "b3multi",
        "cloudtrace",
        "ocbinary",
        "jaeger",
        "jaeger-urlencoded",
    ];
    // opencensus writes no single b3 header, so the peers inject the others only.
    let peer_formats = [
        "tracecontext",
        "b3multi",
        "cloudtrace",
        "ocbinary",
        "jaeger",
        "jaeger-urlencoded",
    ];
    let mut our_baggage = Baggage::new();
    for (k, v) in [
        ("user", "Ada Lovelace"),
        ("path", "a,b;c=d"),
        ("plus", "1+1"),
        ("snow", "\u{2603}"),
    ] {
        our_baggage.insert(k, v).unwrap();
    }
    let peer_baggage =
        json!({"tenant": "acme", "list": "a,b;c=d", "snow": "\u{2603}", "pct": "100%"});

    let mut ours = serde_json::Map::new();
    for format in our_formats {
        let propagator = propagator_for(format);
        let carriers: Vec<HashMap<String, String>> = contexts
            .iter()
            .map(|cx| {
                let mut cx =
                    PropagationContext::new(cx.clone().with_tracestate(tracestate.clone()));
                if format.starts_with("jaeger") {
                    cx.baggage = our_baggage.clone();
                }
                let mut carrier = HashMap::new();
                propagator.inject(&cx, &mut carrier);
                carrier
            })
            .collect();
        ours.insert(format.to_string(), json!(carriers));
    }
    let mut baggage_carrier = HashMap::new();
    BaggagePropagator.inject(
        &PropagationContext::default().with_baggage(our_baggage.clone()),
        &mut baggage_carrier,
    );
    let request = json!({
        "contexts": contexts.iter().map(|cx| json!({
            "trace_id": cx.trace_id().to_string(),
            "span_id": cx.span_id().to_string(),
            "sampled": cx.is_sampled(),
        })).collect::<Vec<_>>(),
        "ours": ours,
        "peer_formats": peer_formats,
        "peer_baggage": peer_baggage,
        "our_baggage_header": baggage_carrier,
    });
    let response: Value = serde_json::from_str(&peers::run_python(
        &["-c", PEER],
        request.to_string().as_bytes(),
    ))
    .expect("the peer's JSON");

    // What the peers extracted from our headers.
    for format in our_formats {
        let extracted = response["extracted"][format].as_array().expect(format);
        assert_eq!(extracted.len(), contexts.len(), "{format}");
        for (got, cx) in extracted.iter().zip(&contexts) {
            assert_eq!(
                got["trace_id"],
                cx.trace_id().to_string(),
                "{format}: {got}"
            );
            assert_eq!(got["span_id"], cx.span_id().to_string(), "{format}: {got}");
            assert_eq!(got["sampled"], cx.is_sampled(), "{format}: {got}");
            if format == "tracecontext" {
                assert_eq!(got["tracestate"], tracestate.to_header(), "{got}");
            }
            if format == "jaeger-urlencoded" {
                for entry in &our_baggage {
                    assert_eq!(got["baggage"][entry.key()], entry.value(), "{got}");
                }
            }
        }
    }
    let peer_w3c_baggage = &response["baggage_extracted"];
    for entry in &our_baggage {
        assert_eq!(
            peer_w3c_baggage[entry.key()],
            entry.value(),
            "{peer_w3c_baggage}"
        );
    }

    // What we extract from the peers' headers.
    for format in peer_formats {
        let propagator = propagator_for(format);
        let carriers = response["injected"][format].as_array().expect(format);
        assert_eq!(carriers.len(), contexts.len(), "{format}");
        for (carrier, cx) in carriers.iter().zip(&contexts) {
            let carrier: HashMap<String, String> =
                serde_json::from_value(carrier.clone()).expect("string headers");
            let extracted = propagator.extract(&carrier);
            let span = extracted
                .span_context
                .unwrap_or_else(|| panic!("{format}: nothing extracted from {carrier:?}"));
            assert_eq!(span.trace_id(), cx.trace_id(), "{format} {carrier:?}");
            assert_eq!(span.span_id(), cx.span_id(), "{format} {carrier:?}");
            assert_eq!(span.is_sampled(), cx.is_sampled(), "{format} {carrier:?}");
            assert!(span.from_header());
            if format == "tracecontext" {
                assert_eq!(span.tracestate().get("congo"), Some("t61rcWkgMzE"));
            }
            if format.starts_with("jaeger") {
                // Unencoded, "100%" is not a valid escape and is kept as it came.
                for (k, v) in peer_baggage.as_object().unwrap() {
                    assert_eq!(extracted.baggage.get(k), v.as_str(), "{format} {carrier:?}");
                }
            }
        }
    }
    let carrier: HashMap<String, String> =
        serde_json::from_value(response["baggage_injected"].clone()).expect("string headers");
    let extracted = BaggagePropagator.extract(&carrier).baggage;
    for (k, v) in peer_baggage.as_object().unwrap() {
        assert_eq!(extracted.get(k), v.as_str(), "{carrier:?}");
    }
}
