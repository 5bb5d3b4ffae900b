@preconcurrency import Dispatch
import NIOConcurrencyHelpers

#if canImport(Glibc)
  import Glibc
#endif

/// Waits for SIGTERM or SIGINT (for small executables; services use swift-service-lifecycle).
public func waitForTermination() async {
  await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
    let pending = NIOLockedValueBox<CheckedContinuation<Void, Never>?>(c)
    var sources: [any DispatchSourceSignal] = []
    for sig in [SIGTERM, SIGINT] {
      signal(sig, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
      source.setEventHandler {
        pending.withLockedValue { c in
          c?.resume()
          c = nil
        }
      }
      source.resume()
      sources.append(source)
    }
    signalSources.withLockedValue { $0 += sources }
  }
}

nonisolated(unsafe) private let signalSources = NIOLockedValueBox<[any DispatchSourceSignal]>([])
