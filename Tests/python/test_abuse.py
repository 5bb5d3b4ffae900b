"""Abuse of the server: each case is followed by a normal call on a new connection, which must
still succeed. Raw HTTP/2 comes from the `h2` package and raw sockets; normal calls from grpcio."""
import socket
import struct

import grpc
import h2.config
import h2.connection
import h2.events
import pytest

from src.proto.grpc.testing import empty_pb2, messages_pb2, test_pb2_grpc

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(type_, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([type_, flags]) + struct.pack(">I", stream) + payload


def read_frames(sock, timeout=5.0):
    """Reads frames until the peer closes or goes quiet; returns [(type, flags, stream, payload)]."""
    sock.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    frames = []
    while len(data) >= 9:
        length = int.from_bytes(data[:3], "big")
        frames.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF, data[9 : 9 + length]))
        data = data[9 + length :]
    return frames


def goaway_code(frames):
    for t, _, _, payload in frames:
        if t == 7:
            return int.from_bytes(payload[4:8], "big")
    return None


def still_serves(server):
    with grpc.insecure_channel(server.target) as channel:
        assert test_pb2_grpc.TestServiceStub(channel).EmptyCall(empty_pb2.Empty(), timeout=10) == empty_pb2.Empty()


def raw(server):
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(PREFACE + frame(4, 0, 0, b""))
    return s


def test_malformed_frame_gets_goaway(fresh_swift_server):
    with raw(fresh_swift_server) as s:
        s.sendall(frame(6, 0, 0, b"\x00\x01\x02"))  # PING must be 8 bytes
        code = goaway_code(read_frames(s))
    assert code == 0x6  # FRAME_SIZE_ERROR
    still_serves(fresh_swift_server)


def test_headers_on_stream_zero_gets_goaway(fresh_swift_server):
    with raw(fresh_swift_server) as s:
        s.sendall(frame(1, 0x4 | 0x1, 0, b"\x82"))  # HEADERS on stream 0
        code = goaway_code(read_frames(s))
    assert code == 0x1  # PROTOCOL_ERROR
    still_serves(fresh_swift_server)


def h2_client(server):
    s = socket.create_connection(("127.0.0.1", server.port))
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    s.sendall(conn.data_to_send())
    return s, conn


def events_until(s, conn, done, timeout=5.0):
    s.settimeout(timeout)
    seen = []
    while not done(seen):
        data = s.recv(65536)
        if not data:
            break
        for e in conn.receive_data(data):
            seen.append(e)
        out = conn.data_to_send()
        if out:
            s.sendall(out)
    return seen


def request_headers(path="/grpc.testing.TestService/EmptyCall", content_type="application/grpc", extra=()):
    return [(":method", "POST"), (":scheme", "http"), (":path", path), (":authority", "x"),
            ("content-type", content_type), ("te", "trailers"), *extra]


def test_wrong_content_type_gets_415(fresh_swift_server):
    s, conn = h2_client(fresh_swift_server)
    with s:
        conn.send_headers(1, request_headers(content_type="application/json"), end_stream=True)
        s.sendall(conn.data_to_send())
        seen = events_until(s, conn, lambda ev: any(isinstance(e, h2.events.StreamEnded) for e in ev))
    responses = [e for e in seen if isinstance(e, h2.events.ResponseReceived)]
    assert responses and dict(responses[0].headers)[":status"] == "415"
    still_serves(fresh_swift_server)


def test_oversized_message_is_resource_exhausted(fresh_swift_server):
    with grpc.insecure_channel(fresh_swift_server.target) as channel:
        stub = test_pb2_grpc.TestServiceStub(channel)
        with pytest.raises(grpc.RpcError) as info:
            stub.UnaryCall(messages_pb2.SimpleRequest(payload=messages_pb2.Payload(body=b"\0" * (5 << 20))), timeout=20)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    still_serves(fresh_swift_server)


def grpc_call(server, path, body, extra=()):
    """One call over raw h2 with a given message body and headers; returns (headers, trailers)."""
    s, conn = h2_client(server)
    with s:
        conn.send_headers(1, request_headers(path=path, extra=extra))
        for i in range(0, len(body), 16384):
            conn.send_data(1, body[i:i + 16384], end_stream=i + 16384 >= len(body))
        s.sendall(conn.data_to_send())
        seen = events_until(s, conn, lambda ev: any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
                                                    for e in ev), timeout=10)
    headers = {}
    for e in seen:
        if isinstance(e, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
            headers.update(dict(e.headers))
    return headers


def test_an_unknown_encoding_is_unimplemented_and_names_what_is_accepted(fresh_swift_server):
    h = grpc_call(fresh_swift_server, "/grpc.testing.TestService/EmptyCall", b"\x00\x00\x00\x00\x00",
                  extra=[("grpc-encoding", "snappy")])
    assert h["grpc-status"] == "12"  # UNIMPLEMENTED
    assert set(h["grpc-accept-encoding"].split(",")) >= {"gzip", "deflate"}
    still_serves(fresh_swift_server)


def test_a_zip_bomb_is_resource_exhausted(fresh_swift_server):
    import gzip
    bomb = gzip.compress(b"\x00" * (64 << 20))  # 64 MiB of zeros in ~64 KiB; the limit is 4 MiB
    assert len(bomb) < 1 << 20
    h = grpc_call(fresh_swift_server, "/grpc.testing.TestService/UnaryCall",
                  b"\x01" + struct.pack(">I", len(bomb)) + bomb, extra=[("grpc-encoding", "gzip")])
    assert h["grpc-status"] == "8", h  # RESOURCE_EXHAUSTED
    assert "decompressed message exceeds" in h.get("grpc-message", "").replace("%20", " ")
    still_serves(fresh_swift_server)


def test_a_compressed_message_without_an_encoding_and_corrupt_gzip_are_errors(fresh_swift_server):
    body = gzip_body = __import__("gzip").compress(messages_pb2.SimpleRequest(response_size=10).SerializeToString())
    h = grpc_call(fresh_swift_server, "/grpc.testing.TestService/UnaryCall", b"\x01" + struct.pack(">I", len(body)) + body)
    assert h["grpc-status"] == "13"  # INTERNAL: flag 1 under identity
    corrupt = gzip_body[:10] + b"garbage" * 4
    h = grpc_call(fresh_swift_server, "/grpc.testing.TestService/UnaryCall",
                  b"\x01" + struct.pack(">I", len(corrupt)) + corrupt, extra=[("grpc-encoding", "gzip")])
    assert h["grpc-status"] == "13"
    still_serves(fresh_swift_server)


def test_grpcio_compression_both_ways(fresh_swift_server):
    """grpcio compresses its requests (deflate) and asks for a compressed response."""
    with grpc.insecure_channel(fresh_swift_server.target, compression=grpc.Compression.Deflate) as channel:
        r = test_pb2_grpc.TestServiceStub(channel).UnaryCall(
            messages_pb2.SimpleRequest(response_size=100_000, payload=messages_pb2.Payload(body=b"\x07" * 200_000),
                                       expect_compressed=messages_pb2.BoolValue(value=True),
                                       response_compressed=messages_pb2.BoolValue(value=True)), timeout=10)
        assert len(r.payload.body) == 100_000


def test_rapid_reset(fresh_swift_server):
    """Opens and resets thousands of streams; the server must shed the abuser, not fall over."""
    s, conn = h2_client(fresh_swift_server)
    sent = 0
    with s:
        try:
            for i in range(5000):
                sid = conn.get_next_available_stream_id()
                conn.send_headers(sid, request_headers(path="/grpc.testing.TestService/FullDuplexCall"))
                conn.reset_stream(sid)
                sent += 1
                if i % 100 == 99:
                    s.sendall(conn.data_to_send())
            s.sendall(conn.data_to_send())
        except (BrokenPipeError, ConnectionResetError):
            pass
        frames = read_frames(s, timeout=3.0)
    assert sent > 1000
    assert goaway_code(frames) is not None, "the server kept serving a rapid-reset client"
    still_serves(fresh_swift_server)


def test_header_block_far_over_the_limit(fresh_swift_server):
    s, conn = h2_client(fresh_swift_server)
    with s:
        conn.send_headers(1, request_headers(extra=[("x-huge", "a" * 200_000)]), end_stream=True)
        s.sendall(conn.data_to_send())
        seen = events_until(
            s, conn,
            lambda ev: any(isinstance(e, (h2.events.StreamReset, h2.events.ConnectionTerminated, h2.events.StreamEnded)) for e in ev),
        )
    assert not any(isinstance(e, h2.events.ResponseReceived) and dict(e.headers).get("grpc-status") == "0" for e in seen)
    assert any(isinstance(e, (h2.events.StreamReset, h2.events.ConnectionTerminated)) for e in seen)
    still_serves(fresh_swift_server)


def test_missing_body_for_unary_is_an_error(fresh_swift_server):
    s, conn = h2_client(fresh_swift_server)
    with s:
        conn.send_headers(1, request_headers(path="/grpc.testing.TestService/UnaryCall"), end_stream=True)
        s.sendall(conn.data_to_send())
        seen = events_until(s, conn, lambda ev: any(isinstance(e, h2.events.StreamEnded) for e in ev))
    trailers = [dict(e.headers) for e in seen if isinstance(e, (h2.events.ResponseReceived, h2.events.TrailersReceived))]
    status = [t.get("grpc-status") for t in trailers if "grpc-status" in t]
    assert status and status[0] != "0"
    still_serves(fresh_swift_server)


def test_a_huge_status_message_is_capped_and_answered(fresh_swift_server):
    """A status whose message would make the trailers too large for any peer is cut (to 1 KiB)
    instead of leaving the call hanging until the client's deadline."""
    with grpc.insecure_channel(fresh_swift_server.target) as channel:
        stub = test_pb2_grpc.TestServiceStub(channel)
        request = messages_pb2.SimpleRequest(response_status=messages_pb2.EchoStatus(code=3, message="托" * 20000))
        with pytest.raises(grpc.RpcError) as info:
            stub.UnaryCall(request, timeout=5)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = info.value.details()
        assert details.startswith("托" * 100) and details.endswith("…") and len(details.encode()) <= 1024
    still_serves(fresh_swift_server)


def test_connections_over_the_limit_are_closed_at_once():
    from conftest import BIN, Server, free_port
    port = free_port()
    server = Server([str(BIN / "tuoyu-interop-server"), "--port", str(port), "--max-connections", "2"], port)
    try:
        __import__("time").sleep(0.5)  # the readiness probe's connection is closed and counted out
        held = [raw(server), raw(server)]
        for s in held:  # answered with SETTINGS, kept open
            assert any(t == 4 for t, _, _, _ in read_frames(s, timeout=1.0))
        third = socket.create_connection(("127.0.0.1", port))
        third.settimeout(5)
        try:
            assert third.recv(100) == b""  # closed without a word
        except ConnectionResetError:
            pass
        third.close()
        for s in held:
            s.close()
        still_serves(server)  # a slot is free again
    finally:
        server.stop()


def test_headers_reusing_a_finished_stream_id_is_a_connection_error(fresh_swift_server):
    import hpack
    encoder = hpack.Encoder()
    block = encoder.encode(request_headers())
    with raw(fresh_swift_server) as s:
        s.sendall(frame(1, 0x4, 1, block) + frame(0, 0x1, 1, b"\x00\x00\x00\x00\x00"))
        first = read_frames(s, timeout=1.0)
        assert any(t == 1 and stream == 1 for t, _, stream, _ in first), first  # answered
        s.sendall(frame(1, 0x5, 1, encoder.encode(request_headers())))
        assert goaway_code(read_frames(s)) == 0x1  # PROTOCOL_ERROR (RFC 9113 §5.1.1)
    still_serves(fresh_swift_server)


def test_a_ping_flood_gets_enhance_your_calm(fresh_swift_server):
    with raw(fresh_swift_server) as s:
        s.sendall(b"".join(frame(6, 0, 0, bytes(8)) for _ in range(4)))
        frames = read_frames(s)
        assert goaway_code(frames) == 0xB, frames  # ENHANCE_YOUR_CALM
        assert any(t == 7 and payload[8:] == b"too_many_pings" for t, _, _, payload in frames)
    still_serves(fresh_swift_server)


def test_ten_thousand_connections_dropped_mid_call_leave_no_descriptor_or_memory_behind():
    import hpack
    import os
    import time
    from conftest import BIN, Server, free_port
    port = free_port()
    server = Server([str(BIN / "tuoyu-interop-server"), "--port", str(port)], port)
    pid = server.proc.pid

    def fds():
        return len(os.listdir(f"/proc/{pid}/fd"))

    def rss_kib():
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    block = hpack.Encoder().encode(request_headers(path="/grpc.testing.TestService/FullDuplexCall"))
    # A call begun: headers, half a message; then the connection goes (closed, or reset).
    opening = PREFACE + frame(4, 0, 0, b"") + frame(1, 0x4, 1, block) + frame(0, 0, 1, b"\x00\x00\x00\x00\x10abc")

    def drop(n):
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(opening)
            if i % 2:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
            s.close()

    def settled(limit):
        for _ in range(200):  # the server notices the closes asynchronously
            if fds() <= limit:
                break
            time.sleep(0.1)
        return fds()

    def stable():
        """The descriptor count once the closes of what came before have all been noticed: the same
        for a second running (or after 10 s)."""
        last, same = fds(), 0
        for _ in range(100):
            time.sleep(0.1)
            now = fds()
            same = same + 1 if now == last else 0
            last = now
            if same >= 10:
                break
        return last

    try:
        # Warm-up, twice: pools, caches and lazily made resources (threads' descriptors) reach
        # their size before the baseline is read, once the warm-up's own closes are noticed.
        drop(500)
        stable()
        drop(500)
        base_fds, base_rss = stable(), rss_kib()
        drop(10_000)
        after = settled(base_fds + 4)
        assert after <= base_fds + 4, (base_fds, after)
        assert rss_kib() - base_rss < 64 * 1024, (base_rss, rss_kib())  # under 64 MiB more
        still_serves(server)
    finally:
        server.stop()
