"""An HTTP peer traced with the OpenTelemetry Python SDK, for the threadline-http interop tests.

The propagator is the SDK's own choice from OTEL_PROPAGATORS (tracecontext, b3, b3multi, ...;
b3 and b3multi come from the opentelemetry-propagator-b3 package). Finished spans are printed
on stdout as JSON lines (trace_id, span_id, parent_span_id, parent_is_remote, name, kind,
attributes), each flushed as the span ends.

  http_peer.py serve      listen on 127.0.0.1 (a free port), print "listening on HOST:PORT",
                          answer one GET inside a SERVER span extracted from its headers,
                          then exit 0
  http_peer.py get URL    a root span "peer-root", inside it a CLIENT span "GET" whose context
                          is injected into the request; exit 0 on a 2xx answer, 1 otherwise
"""

import json
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode


class JsonLinesExporter(SpanExporter):
    """Prints each finished span as one JSON line on stdout."""

    def export(self, spans):
        for span in spans:
            parent = span.parent
            record = {
                "trace_id": format(span.context.trace_id, "032x"),
                "span_id": format(span.context.span_id, "016x"),
                "parent_span_id": format(parent.span_id, "016x") if parent else None,
                "parent_is_remote": bool(parent and parent.is_remote),
                "name": span.name,
                "kind": span.kind.name.lower(),
                "attributes": dict(span.attributes or {}),
            }
            print(json.dumps(record), flush=True)
        return SpanExportResult.SUCCESS

    def shutdown(self):
        sys.stdout.flush()


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter()))
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("http_peer")


class Handler(BaseHTTPRequestHandler):
    served = False

    def do_GET(self):
        Handler.served = True
        context = propagate.extract(self.headers)
        path = self.path.split("?", 1)[0]
        with tracer.start_as_current_span(
            f"GET {path}",
            context=context,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": "GET", "url.path": path},
        ) as span:
            body = b"hello from python\n"
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            span.set_attribute("http.response.status_code", 200)

    def log_message(self, format, *args):
        sys.stderr.write("http_peer: " + (format % args) + "\n")


def serve():
    server = HTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    print(f"listening on {host}:{port}", flush=True)
    # Connections that send no request (readiness probes) do not count.
    while not Handler.served:
        server.handle_request()
    server.server_close()
    provider.shutdown()
    return 0


def get(url):
    with tracer.start_as_current_span("peer-root"):
        with tracer.start_as_current_span(
            "GET", kind=SpanKind.CLIENT, attributes={"http.request.method": "GET", "url.full": url}
        ) as span:
            headers = {}
            propagate.inject(headers)
            request = urllib.request.Request(url, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status = response.status
                    response.read()
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError as e:
                span.set_status(Status(StatusCode.ERROR, str(e)))
                sys.stderr.write(f"http_peer: request failed: {e}\n")
                status = None
            if status is not None:
                span.set_attribute("http.response.status_code", status)
    provider.shutdown()
    return 0 if status is not None and 200 <= status < 300 else 1


def main(argv):
    if len(argv) == 2 and argv[1] == "serve":
        return serve()
    if len(argv) == 3 and argv[1] == "get":
        return get(argv[2])
    sys.stderr.write("usage: http_peer.py serve | http_peer.py get URL\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
