#!/usr/bin/env python3
"""Unary echo benchmark of the wire layer: h2load against tuoyu-bench-server, gRPC C++, grpc-go
and grpc-swift-2, side by side in one run. Servers are pinned to CPU 0 and h2load to CPU 1.

Prints, per server and load shape: requests/s, mean and p99 latency, server CPU microseconds per
call, peak RSS, and tuoyu's ratio to each peer. Run through bench/wire.sh, which builds everything.
"""
import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SHAPES = [(1, 1), (16, 1), (16, 32)]  # connections x streams per connection
TICK = os.sysconf("SC_CLK_TCK")


def request_body() -> bytes:
    name = b"tuoyu"
    msg = b"\x08\x2a" + b"\x12" + bytes([len(name)]) + name  # Req{id: 42, name: "tuoyu"}
    return b"\x00" + len(msg).to_bytes(4, "big") + msg


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen")


def cpu_seconds(pid) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, all threads


def peak_rss_mib(pid) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sanity_check(port):
    """One real gRPC call through grpcio: the server must answer id, name and 256 bytes."""
    try:
        import grpc
    except ImportError:
        return
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        raw = ch.unary_unary("/bench.Bench/Get")(request_body()[5:], timeout=10)
    assert b"tuoyu" in raw and raw.count(b"\x5a") >= 256, raw


def h2load(port, body_file, clients, streams, duration, log_file=None, path="/bench.Bench/Get", headers=(),
           cpu="1"):
    """h2load with a gRPC body; pinned to `cpu` unless None."""
    cmd = (["taskset", "-c", cpu] if cpu else []) + [
        "h2load", "-t", "1", "-c", str(clients), "-m", str(streams), "-D", str(duration), "-d", body_file,
        "-H", "content-type: application/grpc", "-H", "te: trailers"]
    for h in headers:
        cmd += ["-H", h]
    if log_file:
        cmd += ["--log-file", log_file]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    done = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded", out).group(2))
    failed = int(re.search(r"(\d+) failed", out).group(1))
    rps = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    return done, failed, rps, out


def latencies_us(log_file):
    values = []
    with open(log_file) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "200":
                values.append(int(parts[2]))
    values.sort()
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), values[min(len(values) - 1, int(len(values) * 0.99))]


def bench(name, argv, duration, body_file, tmp):
    port = free_port()
    proc = subprocess.Popen(["taskset", "-c", "0", *argv, "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows = []
    try:
        wait_port(port, proc)
        sanity_check(port)
        for clients, streams in SHAPES:
            h2load(port, body_file, clients, streams, 1)  # warm-up
            log = os.path.join(tmp, f"{name}-{clients}x{streams}.log")
            before = cpu_seconds(proc.pid)
            done, failed, rps, _ = h2load(port, body_file, clients, streams, duration, log)
            cpu = cpu_seconds(proc.pid) - before
            mean, p99 = latencies_us(log)
            rows.append(dict(server=name, shape=f"{clients}x{streams}", rps=rps, mean=mean, p99=p99,
                             cpu_us=cpu / max(done, 1) * 1e6, failed=failed))
        rss = peak_rss_mib(proc.pid)
        for r in rows:
            r["rss"] = rss
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tuoyu", required=True)
    p.add_argument("--cpp")
    p.add_argument("--grpc-swift")
    p.add_argument("--go")
    p.add_argument("--duration", type=int, default=5)
    args = p.parse_args()

    tmp = tempfile.mkdtemp(prefix="tuoyu-bench-")
    body_file = os.path.join(tmp, "req.bin")
    with open(body_file, "wb") as f:
        f.write(request_body())

    servers = [("tuoyu", [args.tuoyu])]
    if args.cpp:
        servers.append(("grpc-c++", [args.cpp]))
    if args.go:
        servers.append(("grpc-go", [args.go]))
    if args.grpc_swift:
        servers.append(("grpc-swift-2", [args.grpc_swift]))
    rows = []
    for name, argv in servers:
        print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
        rows += bench(name, argv, args.duration, body_file, tmp)

    print(f"\nUnary echo (bench.Bench/Get, 256-byte payload), h2load -D {args.duration}s, "
          f"server on CPU 0, h2load on CPU 1\n")
    header = f"{'server':<13} {'conn x streams':>14} {'req/s':>10} {'mean µs':>9} {'p99 µs':>9} {'CPU µs/call':>12} {'peak RSS MiB':>13} {'failed':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['server']:<13} {r['shape']:>14} {r['rps']:>10.0f} {r['mean']:>9.1f} {r['p99']:>9.1f} "
              f"{r['cpu_us']:>12.2f} {r['rss']:>13.1f} {r['failed']:>7}")
    ours = {r["shape"]: r for r in rows if r["server"] == "tuoyu"}
    peers = sorted({r["server"] for r in rows} - {"tuoyu"})
    if peers:
        print("\ntuoyu's ratio to each peer (req/s: >1 means tuoyu serves more; CPU: >1 means tuoyu spends less per call)")
        for peer in peers:
            for r in rows:
                if r["server"] != peer:
                    continue
                o = ours[r["shape"]]
                print(f"  vs {peer:<13} {r['shape']:>6}: req/s x{o['rps'] / r['rps']:.2f}   "
                      f"CPU/call x{r['cpu_us'] / o['cpu_us']:.2f}   p99 x{r['p99'] / o['p99']:.2f}")


if __name__ == "__main__":
    main()
