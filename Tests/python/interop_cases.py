"""The grpc interop client cases (grpc/grpc doc/interop-test-descriptions.md) on grpcio."""
import grpc

from src.proto.grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc


def zeros(n):
    return messages_pb2.Payload(body=b"\x00" * n)


def empty_unary(stub, channel):
    assert stub.EmptyCall(empty_pb2.Empty()) == empty_pb2.Empty()


def large_unary(stub, channel):
    r = stub.UnaryCall(messages_pb2.SimpleRequest(response_size=314159, payload=zeros(271828)))
    assert r.payload.body == b"\x00" * 314159


def client_streaming(stub, channel):
    reqs = (messages_pb2.StreamingInputCallRequest(payload=zeros(n)) for n in (27182, 8, 1828, 45904))
    assert stub.StreamingInputCall(reqs).aggregated_payload_size == 74922


def server_streaming(stub, channel):
    sizes = [31415, 9, 2653, 58979]
    req = messages_pb2.StreamingOutputCallRequest(
        response_parameters=[messages_pb2.ResponseParameters(size=s) for s in sizes]
    )
    assert [len(r.payload.body) for r in stub.StreamingOutputCall(req)] == sizes


class _Pipe:
    """A request iterator fed one message at a time (for ping-pong)."""

    def __init__(self):
        import queue

        self.q = queue.Queue()

    def add(self, m):
        self.q.put(m)

    def close(self):
        self.q.put(None)

    def __iter__(self):
        return self

    def __next__(self):
        m = self.q.get()
        if m is None:
            raise StopIteration
        return m


def ping_pong(stub, channel):
    pipe = _Pipe()
    responses = stub.FullDuplexCall(pipe)
    for resp_size, payload_size in ((31415, 27182), (9, 8), (2653, 1828), (58979, 45904)):
        pipe.add(
            messages_pb2.StreamingOutputCallRequest(
                response_parameters=[messages_pb2.ResponseParameters(size=resp_size)],
                payload=zeros(payload_size),
            )
        )
        assert len(next(responses).payload.body) == resp_size
    pipe.close()
    assert list(responses) == []


def empty_stream(stub, channel):
    assert list(stub.FullDuplexCall(iter([]))) == []


def cancel_after_begin(stub, channel):
    pipe = _Pipe()
    future = stub.StreamingInputCall.future(pipe)
    future.cancel()
    assert future.cancelled()
    try:
        future.result()
        raise AssertionError("call was not cancelled")
    except grpc.FutureCancelledError:
        pass


def cancel_after_first_response(stub, channel):
    pipe = _Pipe()
    call = stub.FullDuplexCall(pipe)
    pipe.add(
        messages_pb2.StreamingOutputCallRequest(
            response_parameters=[messages_pb2.ResponseParameters(size=31415)], payload=zeros(27182)
        )
    )
    assert len(next(call).payload.body) == 31415
    call.cancel()
    try:
        next(call)
        raise AssertionError("call was not cancelled")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.CANCELLED


def timeout_on_sleeping_server(stub, channel):
    pipe = _Pipe()
    call = stub.FullDuplexCall(pipe, timeout=0.001)
    pipe.add(messages_pb2.StreamingOutputCallRequest(payload=zeros(27182)))
    try:
        next(call)
        raise AssertionError("no deadline")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e


def custom_metadata(stub, channel):
    md = (("x-grpc-test-echo-initial", "test_initial_metadata_value"), ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab"))
    req = messages_pb2.SimpleRequest(response_size=314159, payload=zeros(271828))
    _, call = stub.UnaryCall.with_call(req, metadata=md)
    assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in call.initial_metadata()
    assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in call.trailing_metadata()
    call = stub.FullDuplexCall(
        iter(
            [
                messages_pb2.StreamingOutputCallRequest(
                    response_parameters=[messages_pb2.ResponseParameters(size=314159)], payload=zeros(271828)
                )
            ]
        ),
        metadata=md,
    )
    assert len(list(call)) == 1
    assert ("x-grpc-test-echo-initial", "test_initial_metadata_value") in call.initial_metadata()
    assert ("x-grpc-test-echo-trailing-bin", b"\xab\xab\xab") in call.trailing_metadata()


def _status_case(stub, message, stream):
    status = messages_pb2.EchoStatus(code=2, message=message)
    try:
        stub.UnaryCall(messages_pb2.SimpleRequest(response_status=status))
        raise AssertionError("succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNKNOWN and e.details() == message, (e.code(), e.details())
    if stream:
        call = stub.FullDuplexCall(iter([messages_pb2.StreamingOutputCallRequest(response_status=status)]))
        try:
            list(call)
            raise AssertionError("succeeded")
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.UNKNOWN and e.details() == message


def status_code_and_message(stub, channel):
    _status_case(stub, "test status message", stream=True)


def special_status_message(stub, channel):
    _status_case(stub, "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n", stream=False)


def unimplemented_method(stub, channel):
    try:
        stub.UnimplementedCall(empty_pb2.Empty())
        raise AssertionError("succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED


def unimplemented_service(stub, channel):
    try:
        test_pb2_grpc.UnimplementedServiceStub(channel).UnimplementedCall(empty_pb2.Empty())
        raise AssertionError("succeeded")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNIMPLEMENTED


def _simple(expect_compressed=None, response_compressed=None):
    r = messages_pb2.SimpleRequest(response_size=314159, payload=zeros(271828))
    if expect_compressed is not None:
        r.expect_compressed.value = expect_compressed
    if response_compressed is not None:
        r.response_compressed.value = response_compressed
    return r


def client_compressed_unary(stub, channel):
    # 1. The probe: said to be compressed, sent plain: the server must refuse it.
    try:
        stub.UnaryCall(_simple(expect_compressed=True))
        raise AssertionError("the server took an uncompressed request said to be compressed")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    # 2. Compressed (grpcio compresses with gzip), 3. plain.
    r = stub.UnaryCall(_simple(expect_compressed=True), compression=grpc.Compression.Gzip)
    assert len(r.payload.body) == 314159
    r = stub.UnaryCall(_simple(expect_compressed=False))
    assert len(r.payload.body) == 314159


def server_compressed_unary(stub, channel):
    for compressed in (True, False):
        r = stub.UnaryCall(_simple(response_compressed=compressed))
        assert len(r.payload.body) == 314159


def client_compressed_streaming(stub, channel):
    def request(expect, n):
        r = messages_pb2.StreamingInputCallRequest(payload=zeros(n))
        r.expect_compressed.value = expect
        return r

    try:
        stub.StreamingInputCall(iter([request(True, 27182)]))
        raise AssertionError("the server took an uncompressed stream message said to be compressed")
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT, e
    # grpcio compresses every message of a compressed call (it cannot leave one out).
    r = stub.StreamingInputCall(iter([request(True, 27182), request(True, 45904)]),
                                compression=grpc.Compression.Gzip)
    assert r.aggregated_payload_size == 73086


def server_compressed_streaming(stub, channel):
    req = messages_pb2.StreamingOutputCallRequest(response_parameters=[
        messages_pb2.ResponseParameters(size=31415), messages_pb2.ResponseParameters(size=92653)])
    req.response_parameters[0].compressed.value = True
    req.response_parameters[1].compressed.value = False
    assert [len(r.payload.body) for r in stub.StreamingOutputCall(req)] == [31415, 92653]


CASES = {
    f.__name__: f
    for f in (
        empty_unary, large_unary, client_streaming, server_streaming, ping_pong, empty_stream,
        cancel_after_begin, cancel_after_first_response, timeout_on_sleeping_server, custom_metadata,
        status_code_and_message, special_status_message, unimplemented_method, unimplemented_service,
        client_compressed_unary, server_compressed_unary, client_compressed_streaming, server_compressed_streaming,
    )
}
