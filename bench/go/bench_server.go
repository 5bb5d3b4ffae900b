// bench.Bench/Get on grpc-go, the second reference bench/wire.sh compares against. Built from
// Debian's golang-google-grpc-dev (GOPATH mode, offline). The messages are encoded by hand — a
// codec that passes bytes — so that no protoc plugin for Go is needed: the request's id and name
// are read, the response carries them and a 256-byte payload, as the C++ and Swift servers do.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// rawCodec hands the wire bytes through: the handler decodes and encodes itself.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "proto" } // replaces the default codec for content-type application/grpc

var payload = func() []byte {
	b := make([]byte, 256)
	for i := range b {
		b[i] = 0x5a
	}
	return b
}()

// get decodes Req{id=1, name=2} and encodes Resp{id=1, name=2, payload=3}.
func get(req []byte) []byte {
	var id uint64
	var name []byte
	for i := 0; i < len(req); {
		key, n := binary.Uvarint(req[i:])
		if n <= 0 {
			break
		}
		i += n
		switch key {
		case 1<<3 | 0:
			v, m := binary.Uvarint(req[i:])
			if m <= 0 {
				return nil
			}
			id, i = v, i+m
		case 2<<3 | 2:
			l, m := binary.Uvarint(req[i:])
			if m <= 0 || i+m+int(l) > len(req) {
				return nil
			}
			name, i = req[i+m:i+m+int(l)], i+m+int(l)
		default:
			return nil
		}
	}
	out := make([]byte, 0, 16+len(name)+len(payload))
	out = append(out, 1<<3)
	out = binary.AppendUvarint(out, id)
	out = append(out, 2<<3|2)
	out = binary.AppendUvarint(out, uint64(len(name)))
	out = append(out, name...)
	out = append(out, 3<<3|2)
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...)
}

func handler(srv interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	out := get(in)
	return &out, nil
}

var desc = grpc.ServiceDesc{
	ServiceName: "bench.Bench",
	HandlerType: (*interface{})(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Get", Handler: handler}},
	Streams:     []grpc.StreamDesc{},
}

func main() {
	port := flag.Int("port", 50053, "port to listen on")
	flag.Parse()
	encoding.RegisterCodec(rawCodec{})
	lis, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	s.RegisterService(&desc, struct{}{})
	fmt.Printf("listening on 127.0.0.1:%d\n", *port)
	if err := s.Serve(lis); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
