#if canImport(Glibc)
  import Glibc
#endif

/// The small text files of /proc and /sys the server reads about itself (its CPUs, its cgroup).
enum SystemFiles {
  /// The file's text, at most `limit` bytes of it; nil if it cannot be opened.
  static func read(_ path: String, limit: Int = 64 << 10) -> String? {
    guard let file = fopen(path, "r") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while bytes.count < limit {
      let n = fread(&chunk, 1, min(chunk.count, limit - bytes.count), file)
      if n == 0 { break }
      bytes += chunk[..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
  }
}
