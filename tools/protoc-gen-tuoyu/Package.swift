// swift-tools-version:6.0
// The code generator for tuoyu's service stubs. Kept out of the main package so that the main
// build never builds swift-protobuf's plugin library; `scripts/generate` builds it on demand.
import PackageDescription

let package = Package(
  name: "protoc-gen-tuoyu",
  platforms: [.macOS(.v15)],
  products: [.executable(name: "protoc-gen-tuoyu", targets: ["protoc-gen-tuoyu"])],
  dependencies: [
    .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0")
  ],
  targets: [
    .executableTarget(
      name: "protoc-gen-tuoyu",
      dependencies: [
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "SwiftProtobufPluginLibrary", package: "swift-protobuf"),
      ]
    )
  ]
)
