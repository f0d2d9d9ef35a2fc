# Seed 004's aa.py in its final form (a main span around the calls). The exporter reads
# OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS and OTEL_SERVICE_NAME, as the
# tutorial sets them; the provider flushes its batch processor at exit.
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
# Initialize tracing and an exporter that can send data to Honeycomb
provider = TracerProvider()
processor = BatchSpanProcessor(OTLPSpanExporter())
provider.add_span_processor(processor)
trace.set_tracer_provider(provider)
tracer = trace.get_tracer("addsubtract")


@tracer.start_as_current_span("add")
def add(a,b):
    return a+b

@tracer.start_as_current_span("subtract")
def subtract(a,b):
    return a-b


# main
@tracer.start_as_current_span("addsubtract")
def main():
    s = add(1,2)
    s = subtract(s,4)
    s = add(s,5)
    print(s)
    
main()
