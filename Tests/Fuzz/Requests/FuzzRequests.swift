// libFuzzer target: protobuf decoding of every request type of every service, then the
// contract's limit checks (what a handler would see), which must never trap.
import API
import FuzzSupport
import RPC
import RPCHealth
import RegistryAPI
import SwiftProtobuf
import InspectionAPI
import SubsidyAPI
import WorkforceAPI

let requestTypes: [any SwiftProtobuf.Message.Type] =
  Tuoyu_Registry_V1_Registry.requestMessageTypes + Tuoyu_Feed_V1_ChangeFeed.requestMessageTypes
  + Tuoyu_Audit_V1_AuditTrail.requestMessageTypes + Grpc_Health_V1_Health.requestMessageTypes
  + Tuoyu_Workforce_V1_Workforce.requestMessageTypes + Tuoyu_Inspection_V1_Inspections.requestMessageTypes
  + Tuoyu_Subsidy_V1_Subsidy.requestMessageTypes

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRequests(_ data: UnsafePointer<UInt8>, _ count: Int) -> CInt {
  var input = FuzzInput(data, count)
  let type = requestTypes[Int(input.byte()) % requestTypes.count]
  let bytes = Array(input.bytes)
  guard let message = try? type.init(serializedBytes: bytes) else { return 0 }
  if var limited = message as? any LimitedMessage {
    let violations = limited.limitViolations()
    // A clean message encodes again and decodes to itself.
    if violations.isEmpty, let again = try? limited.serializedBytes() as [UInt8] {
      precondition((try? type.init(serializedBytes: again)) != nil, "re-encoded request does not decode")
    }
  }
  return 0
}

// A plain build replays the inputs given (files or directories) through the target; built for
// libFuzzer (-D FUZZING), libFuzzer's own main runs instead.
#if !FUZZING
  @main struct Replay {
    static func main() { FuzzReplay.main(Array(CommandLine.arguments.dropFirst()), fuzzRequests) }
  }
#endif
