// bench.Bench/Get on gRPC C++ (callback API), the reference bench/wire.sh compares against.
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "bench/bench.grpc.pb.h"

class BenchImpl final : public bench::Bench::CallbackService {
 public:
  BenchImpl() : payload_(256, '\x5a') {}

  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context, const bench::Req* request,
                                bench::Resp* response) override {
    response->set_id(request->id());
    response->set_name(request->name());
    response->set_payload(payload_);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  const std::string payload_;
};

int main(int argc, char** argv) {
  int port = 50052;
  for (int i = 1; i + 1 < argc; i++) {
    if (std::string(argv[i]) == "--port") port = std::atoi(argv[i + 1]);
  }
  BenchImpl service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  std::cout << "listening on 127.0.0.1:" << port << std::endl;
  server->Wait();
  return 0;
}
