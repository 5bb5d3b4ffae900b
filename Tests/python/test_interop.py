"""Interop both ways with grpcio, an implementation we did not write."""
import subprocess

import grpc
import pytest

from conftest import BIN
from interop_cases import CASES
from src.proto.grpc.testing import test_pb2_grpc


@pytest.mark.parametrize("case", sorted(CASES))
def test_grpcio_client_against_our_server(swift_server, case):
    with grpc.insecure_channel(swift_server.target) as channel:
        CASES[case](test_pb2_grpc.TestServiceStub(channel), channel)


@pytest.mark.parametrize("case", sorted(CASES))
def test_our_client_against_grpcio_server(python_server, case):
    result = subprocess.run(
        [str(BIN / "tuoyu-interop-client"), "--server_host", "127.0.0.1",
         "--server_port", str(python_server.port), "--test_case", case],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"PASS {case}" in result.stdout


def test_our_client_reports_a_failing_case(swift_server):
    """The interop client must be able to fail: an unknown case name is refused."""
    result = subprocess.run(
        [str(BIN / "tuoyu-interop-client"), "--server_port", str(swift_server.port), "--test_case", "no_such_case"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
