import Foundation

/// Without libFuzzer (a plain build), a fuzz target's executable replays inputs: each file given,
/// and each file in each directory given (the committed seed corpus and the regression inputs
/// of crashes once found), through the same entry point libFuzzer calls. Exit 0 when all ran.
public enum FuzzReplay {
  public static func main(
    _ arguments: [String], _ body: (UnsafePointer<UInt8>, Int) -> CInt
  ) -> Never {
    var files: [String] = []
    for path in arguments where !path.hasPrefix("-") {
      var isDirectory: ObjCBool = false
      guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        FileHandle.standardError.write(Data("no such file: \(path)\n".utf8))
        exit(66)
      }
      if isDirectory.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        files += names.sorted().map { path + "/" + $0 }
      } else {
        files.append(path)
      }
    }
    for file in files {
      let bytes = [UInt8](FileManager.default.contents(atPath: file) ?? Data())
      bytes.withUnsafeBufferPointer { b in
        let base = b.baseAddress ?? UnsafePointer(bitPattern: 1)!
        _ = body(base, b.count)
      }
    }
    print("replayed \(files.count) inputs")
    exit(0)
  }
}

/// Reads the fuzzer's bytes from the front.
public struct FuzzInput {
  public var bytes: ArraySlice<UInt8>
  public init(_ data: UnsafePointer<UInt8>, _ count: Int) {
    bytes = ArraySlice(UnsafeBufferPointer(start: data, count: count))
  }
  public mutating func byte() -> UInt8 { bytes.popFirst() ?? 0 }
  public mutating func take(_ n: Int) -> ArraySlice<UInt8> {
    let n = min(n, bytes.count)
    defer { bytes = bytes.dropFirst(n) }
    return bytes.prefix(n)
  }
}
