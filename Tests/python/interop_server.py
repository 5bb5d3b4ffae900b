"""grpc.testing.TestService on grpcio: the peer our interop client is tested against."""
import argparse
import sys
import time
from concurrent import futures
import pathlib

import grpc

sys.path.insert(0, str(pathlib.Path(__file__).parent))
import conftest  # noqa: F401  (generates the stubs and puts them on sys.path)
from src.proto.grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc


def _echo(context):
    md = dict(context.invocation_metadata())
    if "x-grpc-test-echo-initial" in md:
        context.send_initial_metadata((("x-grpc-test-echo-initial", md["x-grpc-test-echo-initial"]),))
    if "x-grpc-test-echo-trailing-bin" in md:
        context.set_trailing_metadata((("x-grpc-test-echo-trailing-bin", md["x-grpc-test-echo-trailing-bin"]),))


def _status(request, context):
    if request.HasField("response_status") and request.response_status.code != 0:
        context.abort(grpc.StatusCode(_code(request.response_status.code)), request.response_status.message)


def _code(n):
    for c in grpc.StatusCode:
        if c.value[0] == n:
            return c.value
    return grpc.StatusCode.UNKNOWN.value


class TestService(test_pb2_grpc.TestServiceServicer):
    def EmptyCall(self, request, context):
        _echo(context)
        return empty_pb2.Empty()

    def UnaryCall(self, request, context):
        _echo(context)
        _status(request, context)
        # grpcio cannot tell whether the request came compressed (expect_compressed is not
        # checked: the client's probe then says so and goes on); it can compress the response.
        if request.response_compressed.value:
            context.set_compression(grpc.Compression.Gzip)
        return messages_pb2.SimpleResponse(payload=messages_pb2.Payload(body=b"\x00" * request.response_size))

    CacheableUnaryCall = UnaryCall

    def StreamingOutputCall(self, request, context):
        _echo(context)
        _status(request, context)
        if any(p.compressed.value for p in request.response_parameters):
            context.set_compression(grpc.Compression.Gzip)
        for p in request.response_parameters:
            if p.interval_us:
                time.sleep(p.interval_us / 1e6)
            if not p.compressed.value:
                context.disable_next_message_compression()
            yield messages_pb2.StreamingOutputCallResponse(payload=messages_pb2.Payload(body=b"\x00" * p.size))

    def StreamingInputCall(self, request_iterator, context):
        _echo(context)
        return messages_pb2.StreamingInputCallResponse(
            aggregated_payload_size=sum(len(r.payload.body) for r in request_iterator)
        )

    def FullDuplexCall(self, request_iterator, context):
        _echo(context)
        for request in request_iterator:
            _status(request, context)
            for p in request.response_parameters:
                yield messages_pb2.StreamingOutputCallResponse(payload=messages_pb2.Payload(body=b"\x00" * p.size))

    def HalfDuplexCall(self, request_iterator, context):
        requests = list(request_iterator)
        for request in requests:
            for p in request.response_parameters:
                yield messages_pb2.StreamingOutputCallResponse(payload=messages_pb2.Payload(body=b"\x00" * p.size))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    test_pb2_grpc.add_TestServiceServicer_to_server(TestService(), server)
    server.add_insecure_port(f"127.0.0.1:{args.port}")
    server.start()
    server.wait_for_termination()


if __name__ == "__main__":
    main()
