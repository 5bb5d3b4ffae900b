"""The server's idle spinner (RPC's IdleSpin): after calls, one thread per event loop keeps the loop's
CPU from halting, at SCHED_IDLE, and it parks when the calls stop — an idle server spends no CPU."""
import os
import time

import grpc

from src.proto.grpc.testing import empty_pb2, test_pb2_grpc

TICK = os.sysconf("SC_CLK_TCK")


def threads(pid):
    """(name, policy, cpu seconds) of each thread of `pid`."""
    out = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        # Fields after "(comm)" start at 3: utime 14, stime 15, policy 41.
        out.append((name, int(fields[38]), (int(fields[11]) + int(fields[12])) / TICK))
    return out


def process_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def test_spinner_runs_idle_priority_and_parks_when_calls_stop(fresh_swift_server):
    pid = fresh_swift_server.proc.pid
    with grpc.insecure_channel(fresh_swift_server.target) as channel:
        stub = test_pb2_grpc.TestServiceStub(channel)
        for _ in range(2000):
            stub.EmptyCall(empty_pb2.Empty(), timeout=10)
        spinners = [t for t in threads(pid) if t[0] == "tuoyu-idle-spin"]
        assert spinners, threads(pid)
        assert all(policy == 5 for _, policy, _ in spinners), spinners  # SCHED_IDLE
        # Calls stopped: within its 100 µs window each spinner parks, and the process goes quiet.
        time.sleep(0.5)
        before = process_cpu(pid)
        time.sleep(2)
        spent = process_cpu(pid) - before
        assert spent < 0.2, f"an idle server spent {spent:.2f} s of CPU in 2 s: {threads(pid)}"
        # And it still answers.
        stub.EmptyCall(empty_pb2.Empty(), timeout=10)
