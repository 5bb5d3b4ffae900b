// The cost of the contract's request limits beside what a call already pays (a benchmark, not a
// test): per request type, nanoseconds to decode the protobuf alone, and to decode and run the
// generated `checkLimits()`, in one run, with the ratio. Usage: tuoyu-bench-limits [--iterations N]
import API
import RegistryAPI
import Foundation
import SwiftProtobuf

func nanoseconds(_ iterations: Int, _ body: () throws -> Void) rethrows -> Double {
  let start = DispatchTime.now().uptimeNanoseconds
  for _ in 0..<iterations { try body() }
  return Double(DispatchTime.now().uptimeNanoseconds - start) / Double(iterations)
}

func bench<M: LimitedMessage>(_ name: String, _ message: M, iterations: Int) throws {
  let bytes: [UInt8] = try message.serializedBytes()
  var sink = 0
  // Warm up, then decode alone and decode + limits, alternated three times; the best of each.
  var decode = Double.infinity, checked = Double.infinity
  for _ in 0..<3 {
    decode = min(decode, try nanoseconds(iterations) { sink &+= try M(serializedBytes: bytes).isInitialized ? 1 : 0 })
    checked = min(
      checked,
      try nanoseconds(iterations) {
        var m = try M(serializedBytes: bytes)
        try m.checkLimits()
        sink &+= m.isInitialized ? 1 : 0
      })
  }
  let limits = checked - decode
  print(
    String(
      format: "%-34@ %6d B  decode %8.0f ns  decode+limits %8.0f ns  limits %7.0f ns  ratio %.2f×",
      name as NSString, bytes.count, decode, checked, limits, checked / decode))
  if sink == 42 { print("") }
}

var iterations = 200_000
if let i = CommandLine.arguments.firstIndex(of: "--iterations"), i + 1 < CommandLine.arguments.count {
  iterations = Int(CommandLine.arguments[i + 1]) ?? iterations
}

let facts = Tuoyu_Registry_V1_FilingFacts.with {
  $0.mode = .privateCentre
  $0.careTypes = [.fullDay, .halfDay]
  $0.inclusive = true
  $0.monthlyFee.fen = 180_000
  $0.townshipCode = "330502001"
  $0.address = "湖州市吴兴区示例路 1 号 创业大厦 3 楼"
  $0.contactPhone = "0572-1234567"
  $0.seats.infant = .with {
    $0.classes = 1; $0.seats = 10
  }
  $0.seats.toddler = .with {
    $0.classes = 2; $0.seats = 30
  }
}
try bench(
  "GetInstitutionRequest",
  Tuoyu_Registry_V1_GetInstitutionRequest.with {
    $0.creditCode = "91330502MA2B3C4D58"
  }, iterations: iterations)
try bench(
  "ListInstitutionsRequest",
  Tuoyu_Registry_V1_ListInstitutionsRequest.with {
    $0.regionCode = "330502"
    $0.pageSize = 50
    $0.pageToken = "djEfOTEzMzA1MDJNQTJCM0M0RDU4H3wwfHx8"
  }, iterations: iterations)
try bench(
  "SubmitFilingRequest",
  Tuoyu_Registry_V1_SubmitFilingRequest.with {
    $0.requestID = "3f2b8c1e-5a0d-4d7e-9b1a-2c6e8f0a1b2c"
    $0.creditCode = "91330502MA2B3C4D58"
    $0.facts = facts
    $0.materials = .with {
      $0.siteProof = .with {
        $0.number = "租赁合同 2025-001"
        $0.issuer = "湖州市吴兴区某置业有限公司"
        $0.issued = .with {
          $0.year = 2025; $0.month = 1; $0.day = 2
        }
        $0.expires = .with {
          $0.year = 2030; $0.month = 1; $0.day = 1
        }
      }
      $0.fireSafety = .with {
        $0.number = "XF-2025-001"
        $0.issuer = "湖州市吴兴区消防救援大队"
        $0.issued = .with {
          $0.year = 2025; $0.month = 3; $0.day = 4
        }
      }
    }
    $0.effectiveDate = .with {
      $0.year = 2025; $0.month = 6; $0.day = 2
    }
  }, iterations: iterations)
try bench(
  "PutRegionRequest (12 years)",
  Tuoyu_Registry_V1_PutRegionRequest.with {
    $0.requestID = "r-1"
    $0.code = "330502"
    $0.displayName = "吴兴区"
    $0.level = .county
    $0.parentCode = "330500"
    $0.years = (2014...2025).map { y in
      .with {
        $0.year = Int32(y); $0.population = 700_000; $0.seatTarget = 3500
      }
    }
  }, iterations: iterations / 4)
