"""Reads one Jaeger thrift body from standard input with jaeger-client's generated classes
(jaeger_client.thrift_gen) and prints what it holds, one line per fact, ids in hex.

Usage: jaeger_decode.py compact   an agent's emitBatch message, thrift compact (UDP 6831)
       jaeger_decode.py binary    a collector's bare Batch, thrift binary (POST /api/traces)

Lines: `message NAME` (compact only), `service NAME`, `process_tag KEY VALUE`,
`span SPAN TRACE PARENT NAME FLAGS START DURATION`, `tag SPAN KEY VALUE`,
`log SPAN TIMESTAMP KEY=VALUE ...`, `ref SPAN TYPE TRACE SPAN`; values as Python's repr.
The interop tests of threadline-wire and threadline-export both run it.
"""

import sys

from jaeger_client.thrift_gen.agent import Agent
from jaeger_client.thrift_gen.jaeger import ttypes
from thrift.protocol import TBinaryProtocol, TCompactProtocol
from thrift.transport import TTransport


def hex64(v):
    return format(v & 0xFFFFFFFFFFFFFFFF, "016x")


def value(tag):
    for field in ("vStr", "vDouble", "vBool", "vLong", "vBinary"):
        v = getattr(tag, field)
        if v is not None:
            return repr(v)
    return "None"


def main():
    mode = sys.argv[1]
    transport = TTransport.TMemoryBuffer(sys.stdin.buffer.read())
    if mode == "compact":
        proto = TCompactProtocol.TCompactProtocol(transport)
        name, _kind, _seqid = proto.readMessageBegin()
        args = Agent.emitBatch_args()
        args.read(proto)
        proto.readMessageEnd()
        batch = args.batch
        print("message", name)
    elif mode == "binary":
        batch = ttypes.Batch()
        batch.read(TBinaryProtocol.TBinaryProtocol(transport))
    else:
        sys.exit(f"unknown mode {mode!r}: compact or binary")
    print("service", batch.process.serviceName)
    for tag in batch.process.tags or []:
        print("process_tag", tag.key, value(tag))
    for span in batch.spans:
        trace = hex64(span.traceIdHigh) + hex64(span.traceIdLow)
        sid = hex64(span.spanId)
        print("span", sid, trace, hex64(span.parentSpanId), span.operationName, span.flags,
              span.startTime, span.duration)
        for tag in span.tags or []:
            print("tag", sid, tag.key, value(tag))
        for log in span.logs or []:
            print("log", sid, log.timestamp, " ".join(f"{f.key}={value(f)}" for f in log.fields))
        for ref in span.references or []:
            print("ref", sid, ref.refType, hex64(ref.traceIdHigh) + hex64(ref.traceIdLow),
                  hex64(ref.spanId))


main()
