"""Fixtures for the wire tests: protobuf stubs generated from protos/, our built executables,
and a Python grpcio server, all on loopback."""
import os
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("TUOYU_BIN", ROOT / ".build" / "debug"))


def service_database(name: str) -> str:
    """A database of its own on the test cluster (`TUOYU_TEST_DATABASE_URL`), made afresh, with one
    role and schema per service (deploy/postgres); returns its URL (as the cluster's admin)."""
    admin = os.environ["TUOYU_TEST_DATABASE_URL"]
    subprocess.run(["psql", admin, "-q", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=True,
                   capture_output=True)
    subprocess.run(["psql", admin, "-q", "-c", f"CREATE DATABASE {name}"], check=True, capture_output=True)
    db = re.sub(r"/[^/?]*(\?|$)", f"/{name}\\1", admin, count=1) if admin.count("/") >= 3 else admin + "/" + name
    subprocess.run(["psql", db, "-q", "-v", "ON_ERROR_STOP=1", "-f", str(ROOT / "deploy/postgres/001_roles_and_schemas.sql")],
                   check=True, capture_output=True)
    return db


def _generate_stubs() -> pathlib.Path:
    """Generates Python stubs for the interop protos under src/proto/ (as grpc/grpc lays them
    out), so the generated `grpc.testing` modules do not shadow the `grpc` package."""
    out = pathlib.Path(tempfile.mkdtemp(prefix="tuoyu-stubs-"))
    src = out / "src" / "proto" / "grpc" / "testing"
    src.mkdir(parents=True)
    for name in ("empty", "messages", "test"):
        text = (ROOT / "protos" / "grpc" / "testing" / f"{name}.proto").read_text()
        text = re.sub(r'import "grpc/testing/', 'import "src/proto/grpc/testing/', text)
        (src / f"{name}.proto").write_text(text)
    for d in (out / "src", out / "src" / "proto", out / "src" / "proto" / "grpc", src):
        (d / "__init__.py").touch()
    from grpc_tools import protoc

    args = ["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}"]
    args += [str(src / f"{n}.proto") for n in ("empty", "messages", "test")]
    if protoc.main(args) != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    return out


STUBS = _generate_stubs()
sys.path.insert(0, str(STUBS))


def _generate_tuoyu_stubs() -> pathlib.Path:
    """Python stubs for every tuoyu proto (and google.rpc), compiled here from protos/ with the
    well-known protos grpc_tools ships (descriptor.proto, which the limits option extends)."""
    from grpc_tools import protoc
    out = pathlib.Path(tempfile.mkdtemp(prefix="tuoyu-api-stubs-"))
    protos = sorted(str(p) for p in (ROOT / "protos" / "tuoyu").rglob("*.proto"))
    protos += [str(ROOT / "protos" / "google" / "rpc" / n) for n in ("status.proto", "error_details.proto")]
    include = pathlib.Path(protoc.__file__).parent / "_proto"
    args = ["protoc", f"-I{ROOT / 'protos'}", f"-I{include}", f"--python_out={out}", f"--grpc_python_out={out}"]
    if protoc.main(args + protos) != 0:
        raise RuntimeError("grpc_tools.protoc failed")
    return out


TUOYU_STUBS = _generate_tuoyu_stubs()
sys.path.insert(0, str(TUOYU_STUBS))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


class Server:
    def __init__(self, args, port, env=None, log=None):
        self.port = port
        self.proc = subprocess.Popen(args, stdout=log or subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        wait_for_port(port, self.proc)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def swift_server():
    """Our interop server (tuoyu-interop-server), h2c."""
    port = free_port()
    server = Server([str(BIN / "tuoyu-interop-server"), "--port", str(port)], port)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def python_server():
    """A grpcio server implementing the same TestService."""
    port = free_port()
    server = Server(
        [sys.executable, str(pathlib.Path(__file__).with_name("interop_server.py")), "--port", str(port)],
        port,
    )
    yield server
    server.stop()


@pytest.fixture
def fresh_swift_server():
    """A server of our own for one test (for tests that may hurt a connection or the process)."""
    port = free_port()
    server = Server([str(BIN / "tuoyu-interop-server"), "--port", str(port)], port)
    yield server
    server.stop()
    assert server.proc.returncode in (0, -15), f"server exited with {server.proc.returncode}"
