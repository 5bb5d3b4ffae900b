#!/usr/bin/env bash
# The wire benchmark (a benchmark, not a test): builds tuoyu-bench-server (release), the same
# service on gRPC C++, on grpc-go (Debian's golang-google-grpc-dev, offline) and on grpc-swift-2
# (bench/grpc-swift, its own package), then runs bench/wire.py.
# Usage: bench/wire.sh [--duration SECONDS] [--skip-grpc-swift] [--runs N] [--keep-awake] [--critical-path]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRA_APT_PACKAGES="nghttp2-client libgrpc++-dev protobuf-compiler-grpc protobuf-compiler util-linux golang-go golang-google-grpc-dev linux-perf" scripts/setup

skip_swift=0
runs=1
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-grpc-swift) skip_swift=1; shift ;;
    --runs) runs=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

echo "== building tuoyu-bench-server (release)" >&2
swift build -c release --product tuoyu-bench-server >&2
tuoyu="$(swift build -c release --show-bin-path)/tuoyu-bench-server"

echo "== building the gRPC C++ server" >&2
out=.build/bench-cpp
mkdir -p "$out"
protoc -I protos --cpp_out="$out" --grpc_out="$out" --plugin=protoc-gen-grpc="$(command -v grpc_cpp_plugin)" protos/bench/bench.proto
if [ ! -x "$out/cpp-bench-server" ] || [ bench/cpp/bench_server.cc -nt "$out/cpp-bench-server" ]; then
  g++ -O2 -std=c++17 -I"$out" bench/cpp/bench_server.cc "$out/bench/bench.pb.cc" "$out/bench/bench.grpc.pb.cc" \
    $(pkg-config --cflags --libs grpc++ protobuf) -o "$out/cpp-bench-server"
fi

echo "== building the grpc-go server" >&2
godir=.build/bench-go
mkdir -p "$godir"
if [ ! -x "$godir/go-bench-server" ] || [ bench/go/bench_server.go -nt "$godir/go-bench-server" ]; then
  GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$PWD/$godir/cache" GOFLAGS= \
    go build -o "$godir/go-bench-server" bench/go/bench_server.go
fi

gs=()
if [ $skip_swift = 0 ]; then
  echo "== building the grpc-swift-2 server (release; slow the first time)" >&2
  (cd bench/grpc-swift && swift build -c release >&2)
  gs=(--grpc-swift "bench/grpc-swift/.build/release/grpc-swift-bench-server")
fi

for run in $(seq 1 "$runs"); do
  [ "$runs" -gt 1 ] && echo "== run $run of $runs"
  .build-venv/bin/python bench/wire.py --tuoyu "$tuoyu" --cpp "$out/cpp-bench-server" --go "$godir/go-bench-server" \
    "${gs[@]}" "${args[@]}"
done
