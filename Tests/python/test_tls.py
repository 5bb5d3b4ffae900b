"""TLS with ALPN h2, certificates made at test time: grpcio against our server, and our client
against our server."""
import subprocess

import grpc
import pytest

from conftest import BIN, Server, free_port
from src.proto.grpc.testing import empty_pb2, test_pb2_grpc


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    return d


@pytest.fixture(scope="module")
def tls_server(certs):
    port = free_port()
    server = Server(
        [str(BIN / "tuoyu-interop-server"), "--port", str(port), "--use_tls",
         "--cert", str(certs / "cert.pem"), "--key", str(certs / "key.pem")],
        port,
    )
    yield server
    server.stop()


def test_grpcio_over_tls(tls_server, certs):
    creds = grpc.ssl_channel_credentials(root_certificates=(certs / "cert.pem").read_bytes())
    with grpc.secure_channel(f"localhost:{tls_server.port}", creds) as channel:
        assert test_pb2_grpc.TestServiceStub(channel).EmptyCall(empty_pb2.Empty(), timeout=10) == empty_pb2.Empty()


def test_grpcio_refuses_untrusted_certificate(tls_server):
    creds = grpc.ssl_channel_credentials()  # system roots: our self-signed cert is not trusted
    with grpc.secure_channel(f"localhost:{tls_server.port}", creds) as channel:
        with pytest.raises(grpc.RpcError) as info:
            test_pb2_grpc.TestServiceStub(channel).EmptyCall(empty_pb2.Empty(), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_our_client_over_tls(tls_server, certs):
    result = subprocess.run(
        [str(BIN / "tuoyu-interop-client"), "--server_host", "127.0.0.1", "--server_port", str(tls_server.port),
         "--use_tls", "--ca_file", str(certs / "cert.pem"), "--server_host_override", "localhost",
         "--test_case", "all"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASS") == 18  # every case, the four compression cases included
