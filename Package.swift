// swift-tools-version:6.0
import PackageDescription

let swiftSettings: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let nio: [Target.Dependency] = [
  .product(name: "NIOCore", package: "swift-nio"),
  .product(name: "NIOPosix", package: "swift-nio"),
]

let package = Package(
  name: "tuoyu",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "H2", targets: ["H2"]),
    .library(name: "RPC", targets: ["RPC"]),
    .library(name: "RPCHealth", targets: ["RPCHealth"]),
    .library(name: "Postgres", targets: ["Postgres"]),
    .executable(name: "tuoyu-registry", targets: ["Registry"]),
    .executable(name: "tuoyu-workforce", targets: ["Workforce"]),
    .executable(name: "tuoyu-inspection", targets: ["Inspection"]),
    .executable(name: "tuoyu-subsidy", targets: ["Subsidy"]),
    .executable(name: "tuoyu-token", targets: ["Token"]),
    .executable(name: "tuoyu", targets: ["CLI"]),
    .executable(name: "tuoyu-interop-server", targets: ["InteropServer"]),
    .executable(name: "tuoyu-interop-client", targets: ["InteropClient"]),
    .executable(name: "tuoyu-bench-server", targets: ["BenchServer"]),
    .executable(name: "tuoyu-bench-limits", targets: ["BenchLimits"]),
    .executable(name: "tuoyu-bench-postgres", targets: ["BenchPostgres"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
    .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
    .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
  ],
  targets: [
    // Layer 2: HTTP/2 by nghttp2. Only H2 imports CNGHTTP2.
    .systemLibrary(
      name: "CNGHTTP2", path: "Shared/CNGHTTP2", pkgConfig: "libnghttp2",
      providers: [.apt(["libnghttp2-dev"])]),
    .target(
      name: "H2", dependencies: ["CNGHTTP2", .product(name: "NIOCore", package: "swift-nio")],
      path: "Shared/H2", swiftSettings: swiftSettings),
    // zlib, for gRPC message compression. Only RPC imports CZlib.
    .systemLibrary(name: "CZlib", path: "Shared/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    // glibc's scheduling calls for the server's idle spinner. Only RPC imports CSched.
    .systemLibrary(name: "CSched", path: "Shared/CSched"),
    // Layer 3: our gRPC wire layer.
    .target(
      name: "RPC",
      dependencies: nio + [
        "H2", "CZlib", "CSched",
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Shared/RPC", swiftSettings: swiftSettings),
    // Layer 5: the thin libpq wrapper. Only Postgres imports CLibPQ.
    .systemLibrary(
      name: "CLibPQ", path: "Shared/CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
    .target(
      name: "Postgres",
      dependencies: [
        "CLibPQ",
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ],
      path: "Shared/Postgres", swiftSettings: swiftSettings),
    .target(
      name: "RPCReflection", dependencies: ["RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Shared/RPCReflection", swiftSettings: swiftSettings),
    .target(
      name: "RPCHealth", dependencies: ["RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Shared/RPCHealth", swiftSettings: swiftSettings),
    // Layer 4: what every contract shares, generated from protos/: google.rpc error details, the
    // limits option and its runtime, tuoyu.common.v1 (dates, money). Each service's own contract
    // is a target of its own (RegistryAPI, …).
    .target(
      name: "API", dependencies: ["RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Shared/API", swiftSettings: swiftSettings),
    // Each service's contract: its messages, client and service protocol, generated from its
    // protos. The CLI and other services import it to call the service.
    .target(
      name: "RegistryAPI", dependencies: ["API", "RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Services/Registry/API", swiftSettings: swiftSettings),
    .target(
      name: "WorkforceAPI", dependencies: ["API", "RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Services/Workforce/API", swiftSettings: swiftSettings),
    // Layer 6: what every service executable shares.
    .target(
      name: "ServiceKit",
      dependencies: [
        "API", "H2", "RPC", "RPCHealth", "RPCReflection", "Postgres", .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "NIOHTTP1", package: "swift-nio"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ],
      path: "Shared/ServiceKit", resources: [.copy("Migrations")], swiftSettings: swiftSettings),
    // Test support every test target uses: the test database, a service in-process, tokens.
    .target(
      name: "ServiceKitTesting", dependencies: ["ServiceKit", "Postgres", "RPC"], path: "Shared/ServiceKitTesting",
      swiftSettings: swiftSettings),
    // What a service following the registry's feed keeps of it (the workforce, inspection).
    .target(
      name: "RegistryView",
      dependencies: [
        "ServiceKit", "API", "RegistryAPI", "Postgres", "RPC", .product(name: "Logging", package: "swift-log"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Shared/RegistryView", resources: [.copy("Migrations")], swiftSettings: swiftSettings),
    // Layer 7: the services.
    .target(
      name: "RegistryCore",
      dependencies: [
        "ServiceKit", "API", "RegistryAPI", "InspectionAPI", "Postgres", "RPC",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"), .product(name: "Logging", package: "swift-log"),
      ],
      path: "Services/Registry/Sources", resources: [.copy("Migrations")], swiftSettings: swiftSettings),
    .executableTarget(
      name: "Registry", dependencies: ["RegistryCore", "ServiceKit"], path: "Services/Registry/App",
      swiftSettings: swiftSettings),
    .target(
      name: "WorkforceCore",
      dependencies: [
        "ServiceKit", "API", "WorkforceAPI", "RegistryAPI", "RegistryView", "Postgres", "RPC",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
      ], path: "Services/Workforce/Sources",
      resources: [.copy("Migrations")],
      swiftSettings: swiftSettings),
    .executableTarget(
      name: "Workforce", dependencies: ["WorkforceCore", "RegistryView", "ServiceKit"], path: "Services/Workforce/App",
      swiftSettings: swiftSettings),
    .target(
      name: "InspectionAPI", dependencies: ["API", "RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Services/Inspection/API", swiftSettings: swiftSettings),
    .target(
      name: "InspectionCore",
      dependencies: [
        "ServiceKit", "API", "InspectionAPI", "RegistryView", "Postgres", "RPC",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ], path: "Services/Inspection/Sources",
      resources: [.copy("Migrations")],
      swiftSettings: swiftSettings),
    .executableTarget(
      name: "Inspection", dependencies: ["InspectionCore", "RegistryView", "ServiceKit"],
      path: "Services/Inspection/App",
      swiftSettings: swiftSettings),
    .target(
      name: "SubsidyAPI", dependencies: ["API", "RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Services/Subsidy/API", swiftSettings: swiftSettings),
    .target(
      name: "SubsidyCore",
      dependencies: [
        "ServiceKit", "API", "SubsidyAPI", "InspectionAPI", "RegistryAPI", "RegistryView", "Postgres", "RPC",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"), .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ], path: "Services/Subsidy/Sources",
      resources: [.copy("Migrations")],
      swiftSettings: swiftSettings),
    .executableTarget(
      name: "Subsidy", dependencies: ["SubsidyCore", "RegistryView", "ServiceKit"], path: "Services/Subsidy/App",
      swiftSettings: swiftSettings),
    .executableTarget(
      name: "Token",
      dependencies: ["ServiceKit", .product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "tools/token", swiftSettings: swiftSettings),
    // The operator CLI: talks to the services through the generated clients only.
    .executableTarget(
      name: "CLI",
      dependencies: [
        "API", "RegistryAPI", "WorkforceAPI", "InspectionAPI", "SubsidyAPI", "RPC",
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "tools/tuoyu", swiftSettings: swiftSettings),
    .target(
      name: "Interop",
      dependencies: ["RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "Shared/Interop", swiftSettings: swiftSettings),
    .executableTarget(
      name: "InteropServer",
      dependencies: [
        "Interop", "RPC", "RPCHealth",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Tests/InteropServer", swiftSettings: swiftSettings),
    .executableTarget(
      name: "InteropClient",
      dependencies: [
        "Interop", "RPC", .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "Tests/InteropClient", swiftSettings: swiftSettings),
    .executableTarget(
      name: "BenchServer",
      dependencies: [
        "RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "bench/BenchServer", swiftSettings: swiftSettings),
    .executableTarget(
      name: "BenchLimits",
      dependencies: ["API", "RegistryAPI", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      path: "bench/Limits", swiftSettings: swiftSettings),
    .executableTarget(
      name: "BenchPostgres",
      dependencies: ["Postgres", "CLibPQ", .product(name: "NIOPosix", package: "swift-nio")], path: "bench/Postgres",
      swiftSettings: swiftSettings),
    // Fuzz targets (Tests/Fuzz): libFuzzer entry points. `scripts/fuzz` builds them with
    // -sanitize=fuzzer,address; a plain build makes each a replayer of its corpus (scripts/test).
    .target(name: "FuzzSupport", path: "Tests/Fuzz/Support", swiftSettings: swiftSettings),
    .executableTarget(
      name: "FuzzH2Server",
      dependencies: [
        "FuzzSupport", "H2", .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
      ], path: "Tests/Fuzz/H2Server", swiftSettings: swiftSettings),
    .executableTarget(
      name: "FuzzH2Client",
      dependencies: [
        "FuzzSupport", "H2", .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOEmbedded", package: "swift-nio"),
      ], path: "Tests/Fuzz/H2Client", swiftSettings: swiftSettings),
    .executableTarget(
      name: "FuzzRPCServer",
      dependencies: [
        "FuzzSupport", "RPC", "RPCHealth", "Interop", .product(name: "NIOPosix", package: "swift-nio"),
      ], path: "Tests/Fuzz/RPCServer", swiftSettings: swiftSettings),
    .executableTarget(
      name: "FuzzDeframer",
      dependencies: ["FuzzSupport", "RPC", .product(name: "NIOCore", package: "swift-nio")],
      path: "Tests/Fuzz/Deframer", swiftSettings: swiftSettings),
    .executableTarget(
      name: "FuzzHeaders",
      dependencies: ["FuzzSupport", "RPC", .product(name: "NIOCore", package: "swift-nio")],
      path: "Tests/Fuzz/Headers", swiftSettings: swiftSettings),
    .executableTarget(
      name: "FuzzRequests",
      dependencies: [
        "FuzzSupport", "API", "RPC", "RPCHealth", "RegistryAPI", "WorkforceAPI", "InspectionAPI", "SubsidyAPI",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ], path: "Tests/Fuzz/Requests", swiftSettings: swiftSettings),
    .testTarget(
      name: "RegistryTests",
      dependencies: [
        "RegistryCore", "RegistryAPI", "ServiceKit", "ServiceKitTesting", "API", "Postgres", "RPC",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "PropertyBased", package: "swift-property-based"),
      ],
      path: "Tests/RegistryTests", swiftSettings: swiftSettings),
    .testTarget(
      name: "WorkforceTests",
      dependencies: [
        "WorkforceCore", "WorkforceAPI", "RegistryCore", "RegistryAPI", "RegistryView", "ServiceKit",
        "ServiceKitTesting", "API",
        "Postgres", "RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
      ],
      path: "Tests/WorkforceTests", swiftSettings: swiftSettings),
    .testTarget(
      name: "InspectionTests",
      dependencies: [
        "InspectionCore", "InspectionAPI", "RegistryCore", "RegistryAPI", "RegistryView", "ServiceKit",
        "ServiceKitTesting", "API", "Postgres", "RPC", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Tests/InspectionTests",
      swiftSettings: swiftSettings),
    .testTarget(
      name: "SubsidyTests",
      dependencies: [
        "SubsidyCore", "SubsidyAPI", "InspectionCore", "InspectionAPI", "RegistryCore", "RegistryAPI", "RegistryView",
        "ServiceKit", "ServiceKitTesting", "API", "Postgres", "RPC",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "PropertyBased", package: "swift-property-based"),
      ],
      path: "Tests/SubsidyTests",
      swiftSettings: swiftSettings),
    .testTarget(
      name: "H2Tests",
      dependencies: [
        "H2", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
      ],
      path: "Tests/H2Tests", swiftSettings: swiftSettings),
    .testTarget(
      name: "PostgresTests", dependencies: ["Postgres", "ServiceKitTesting"], path: "Tests/PostgresTests",
      swiftSettings: swiftSettings),
    .testTarget(
      name: "ServiceKitTests",
      dependencies: [
        "ServiceKit", "ServiceKitTesting", "Postgres", "RPC", .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        .product(name: "JWTKit", package: "jwt-kit"),
      ],
      path: "Tests/ServiceKitTests", swiftSettings: swiftSettings),
    .testTarget(
      name: "RPCTests",
      dependencies: nio + [
        "RPC", "RPCHealth", "Interop", "CSched",
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      path: "Tests/RPCTests", swiftSettings: swiftSettings),
  ]
)
