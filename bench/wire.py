#!/usr/bin/env python3
"""Unary echo benchmark of the wire layer: h2load against tuoyu-bench-server, gRPC C++, grpc-go
and grpc-swift-2, side by side in one run. Servers are pinned to CPU 0 and h2load to CPU 1.

Prints, per server and load shape: requests/s, mean and p99 latency, server CPU microseconds per
call, peak RSS, and tuoyu's ratio to each peer. Run through bench/wire.sh, which builds everything.
tuoyu runs three times: as it serves by default, with its idle spinner (RPC's IdleSpin: a SCHED_IDLE
thread that keeps the event loop's CPU from halting for 100 µs after a read) and its read rounds (H2's
H2ReadRound: the connections one epoll_wait found ready are read first, then served longest-waiting
first); as `tuoyu-no-spin` (`--idle-spin-us 0`); and as `tuoyu-epoll-order` (`--epoll-order`:
served in the order epoll reports them, as NIO delivers reads). The spinner's CPU is its own column ("spin µs/call"): it is time the CPU would
otherwise have spent halted, and it is not in "CPU µs/call".

--keep-awake runs a busy loop at SCHED_IDLE on the servers' CPU for the whole run: it takes only
time the CPU would spend idle, so no server waits for it, but the CPU never halts — on a virtual
machine without guest halt polling, waking a halted vCPU is what a call at low concurrency waits
for. --critical-path measures, per server at 1x1, the time from the request's read to the
response's write inside the server (syscall tracepoints through perf; the rest of a call's latency
is the kernel, the client and the wake-ups).
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


def stat_cpu_seconds(stat_path) -> float:
    """utime + stime from a /proc stat file (of a process: all its threads; of a task: that thread)."""
    fields = open(stat_path).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_seconds(pid) -> float:
    return stat_cpu_seconds(f"/proc/{pid}/stat")


def spin_seconds(pid) -> float:
    """CPU seconds of the server's idle-spinner threads (tuoyu's IdleSpin, at SCHED_IDLE): time the
    CPU would otherwise have spent halted, reported apart from the work."""
    total = 0.0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().strip() == "tuoyu-idle-spin":
                total += stat_cpu_seconds(f"/proc/{pid}/task/{tid}/stat")
        except FileNotFoundError:
            continue
    return total


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


def critical_path_us(pid, port, body_file, tmp, name):
    """Median and p90 µs from the read that brought a request to the write that sent its response
    (any thread of the server), over 2 s of 1x1 load, from perf's syscall tracepoints."""
    data = os.path.join(tmp, f"{name}.perf")
    events = ",".join(f"syscalls:{e}" for e in ("sys_exit_read", "sys_exit_recvmsg", "sys_enter_write",
                                                 "sys_enter_sendmsg"))
    rec = subprocess.Popen(["perf", "record", "-q", "-e", events, "-p", str(pid), "-o", data],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    h2load(port, body_file, 1, 1, 2)
    rec.send_signal(2)
    rec.wait(timeout=30)
    out = subprocess.run(["perf", "script", "-i", data, "-F", "time,event,trace"], capture_output=True,
                         text=True).stdout
    gaps, start = [], None
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+):\s+syscalls:(\w+):\s*(.*)", line)
        if not m:
            continue
        t, event, rest = float(m.group(1)) * 1e6, m.group(2), m.group(3)
        if event in ("sys_exit_read", "sys_exit_recvmsg"):
            ret = re.search(r"0x([0-9a-f]+)", rest)
            if ret and int(ret.group(1), 16) >= 40:  # a request (HEADERS + DATA), not a window update
                start = t
        elif start is not None:
            count = re.search(r"count: 0x([0-9a-f]+)", rest)
            if event == "sys_enter_sendmsg" or (count and int(count.group(1), 16) > 200):
                gaps.append(t - start)
                start = None
    if not gaps:
        return float("nan"), float("nan")
    gaps.sort()
    return statistics.median(gaps), gaps[int(len(gaps) * 0.9)]


def bench(name, argv, duration, body_file, tmp, critical_path=False):
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
            before, spin_before = cpu_seconds(proc.pid), spin_seconds(proc.pid)
            done, failed, rps, _ = h2load(port, body_file, clients, streams, duration, log)
            spin = spin_seconds(proc.pid) - spin_before
            cpu = cpu_seconds(proc.pid) - before - spin
            mean, p99 = latencies_us(log)
            rows.append(dict(server=name, shape=f"{clients}x{streams}", rps=rps, mean=mean, p99=p99,
                             cpu_us=cpu / max(done, 1) * 1e6, spin_us=spin / max(done, 1) * 1e6, failed=failed))
        rss = peak_rss_mib(proc.pid)
        path = critical_path_us(proc.pid, port, body_file, tmp, name) if critical_path else None
        for r in rows:
            r["rss"] = rss
            r["path"] = path
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
    p.add_argument("--keep-awake", action="store_true",
                   help="keep the servers' CPU from halting with a SCHED_IDLE busy loop (see above)")
    p.add_argument("--critical-path", action="store_true",
                   help="measure read-to-write inside each server at 1x1 (needs perf)")
    args = p.parse_args()

    tmp = tempfile.mkdtemp(prefix="tuoyu-bench-")
    body_file = os.path.join(tmp, "req.bin")
    with open(body_file, "wb") as f:
        f.write(request_body())

    # tuoyu as it runs by default (its idle spinner on: IdleSpin; ready connections served about in
    # the order their requests arrived: H2ReadRound), with the spinner off, and serving in epoll's order.
    servers = [("tuoyu", [args.tuoyu]), ("tuoyu-no-spin", [args.tuoyu, "--idle-spin-us", "0"]),
               ("tuoyu-epoll-order", [args.tuoyu, "--epoll-order"])]
    if args.cpp:
        servers.append(("grpc-c++", [args.cpp]))
    if args.go:
        servers.append(("grpc-go", [args.go]))
    if args.grpc_swift:
        servers.append(("grpc-swift-2", [args.grpc_swift]))
    spinner = None
    if args.keep_awake:
        spinner = subprocess.Popen(["chrt", "--idle", "0", "taskset", "-c", "0", "sh", "-c", "while :; do :; done"])
    rows = []
    try:
        for name, argv in servers:
            print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
            rows += bench(name, argv, args.duration, body_file, tmp, args.critical_path)
    finally:
        if spinner:
            spinner.kill()
            spinner.wait()

    try:
        halt_poll = open("/sys/module/haltpoll/parameters/guest_halt_poll_ns").read().strip() + " ns"
    except OSError:
        halt_poll = "n/a"
    print(f"\nUnary echo (bench.Bench/Get, 256-byte payload), h2load -D {args.duration}s, "
          f"server on CPU 0, h2load on CPU 1; CPU 0 {'kept awake (SCHED_IDLE busy loop)' if args.keep_awake else 'idles'}"
          f"; guest halt polling {halt_poll}\n")
    header = f"{'server':<17} {'conn x streams':>14} {'req/s':>10} {'mean µs':>9} {'p99 µs':>9} {'CPU µs/call':>12} {'spin µs/call':>13} {'peak RSS MiB':>13} {'failed':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['server']:<17} {r['shape']:>14} {r['rps']:>10.0f} {r['mean']:>9.1f} {r['p99']:>9.1f} "
              f"{r['cpu_us']:>12.2f} {r['spin_us']:>13.2f} {r['rss']:>13.1f} {r['failed']:>7}")
    if args.critical_path:
        print("\nInside the server at 1x1, from the request's read to the response's write (perf tracepoints):")
        for r in rows:
            if r["shape"] == "1x1":
                print(f"  {r['server']:<17} median {r['path'][0]:.1f} µs, p90 {r['path'][1]:.1f} µs")
    ours = {r["shape"]: r for r in rows if r["server"] == "tuoyu"}
    peers = sorted({r["server"] for r in rows} - {"tuoyu"}, key=lambda p: (not p.startswith("tuoyu-"), p))
    if peers:
        print("\ntuoyu's ratio to each peer (req/s: >1 means tuoyu serves more; CPU: >1 means tuoyu spends less per call)")
        for peer in peers:
            for r in rows:
                if r["server"] != peer:
                    continue
                o = ours[r["shape"]]
                print(f"  vs {peer:<17} {r['shape']:>6}: req/s x{o['rps'] / r['rps']:.2f}   "
                      f"CPU/call x{r['cpu_us'] / o['cpu_us']:.2f}   p99 x{r['p99'] / o['p99']:.2f}")


if __name__ == "__main__":
    main()
