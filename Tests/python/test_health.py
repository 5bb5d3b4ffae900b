"""grpc.health.v1.Health called through grpcio-health-checking's own stub."""
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc


def test_check_server_and_service(swift_server):
    with grpc.insecure_channel(swift_server.target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        assert stub.Check(health_pb2.HealthCheckRequest(service="")).status == health_pb2.HealthCheckResponse.SERVING
        r = stub.Check(health_pb2.HealthCheckRequest(service="grpc.testing.TestService"))
        assert r.status == health_pb2.HealthCheckResponse.SERVING


def test_check_unknown_service_is_not_found(swift_server):
    with grpc.insecure_channel(swift_server.target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_watch_streams_the_current_status(swift_server):
    with grpc.insecure_channel(swift_server.target) as channel:
        stream = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""), timeout=10)
        assert next(stream).status == health_pb2.HealthCheckResponse.SERVING
        stream.cancel()
        unknown = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service="nope"), timeout=10)
        assert next(unknown).status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        unknown.cancel()
