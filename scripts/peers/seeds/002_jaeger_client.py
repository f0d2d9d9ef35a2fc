# Seed 002 (the Jaeger quickstart's iPython session), the statements as the tutorial types
# them. The agent address comes from JAEGER_AGENT_HOST and JAEGER_AGENT_PORT, which
# jaeger-client reads when the config names none.
import logging
from jaeger_client import Config


def init_tracer(service):
    logging.getLogger('').handlers = []
    logging.basicConfig(format='%(message)s', level=logging.DEBUG)

    config = Config(
        config={
            'sampler': {
                'type': 'const',
                'param': 1,
            },
            'logging': True,
        },
        service_name=service,
    )

    # this call also sets opentracing.tracer
    return config.initialize_tracer()


tracer = init_tracer('first-service')

with tracer.start_span('first-span') as span:
    span.set_tag('first-tag', '100')

with tracer.start_span('second-span') as span2:
    span2.set_tag('second-tag', '90')
    with tracer.start_span('third-span') as span3:
        span3.set_tag('third-tag', '80')

with tracer.start_span('fourth-span') as span4:
    span4.set_tag('fourth-tag', '60')
    with tracer.start_span('fifth-span', child_of=span4) as span5:
        span5.set_tag('fifth-tag', '80')

# The tutorial warns that the tracer does not flush immediately and a short program may exit
# before it does. A script must close the tracer and wait: close() runs on the UDP reporter's
# IOLoop thread (with 'logging' on, it sits beside a logging reporter), and its future
# resolves once every span is sent.
import threading

flushed = threading.Event()
udp_reporter = next(r for r in tracer.reporter.reporters if hasattr(r, 'io_loop'))
udp_reporter.io_loop.add_callback(
    lambda: tracer.close().add_done_callback(lambda _: flushed.set()))
if not flushed.wait(30):
    raise SystemExit("the tracer did not flush within 30 s")
for span in (span, span2, span3, span4, span5):
    c = span.context
    print("span", span.operation_name, format(c.trace_id, "032x"), format(c.span_id, "016x"),
          format(c.parent_id or 0, "016x"))
