import Foundation
import Logging

/// One JSON object per line on stderr: what log collectors read when not on a terminal.
public struct JSONLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level = .info
  let label: String

  public init(label: String) { self.label = label }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var object: [String: String] = [
      "ts": Date().postgresISO, "level": event.level.rawValue, "logger": label, "msg": event.message.description,
    ]
    for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { object[k] = "\(v)" }
    if let error = event.error { object["error"] = "\(error)" }
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
    FileHandle.standardError.write(data + Data("\n".utf8))
  }

  /// Bootstraps swift-log at `level`: JSON when stderr is not a terminal, plain text when it is.
  public static func bootstrap(level: Logger.Level = .info) {
    if isatty(2) == 0 {
      LoggingSystem.bootstrap { label in
        var h = JSONLogHandler(label: label)
        h.logLevel = level
        return h
      }
    } else {
      LoggingSystem.bootstrap { label in
        var h = StreamLogHandler.standardError(label: label)
        h.logLevel = level
        return h
      }
    }
  }
}

extension Date {
  var postgresISO: String { ISO8601DateFormatter().string(from: self) }
}
