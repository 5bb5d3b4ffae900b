import API
import RegistryAPI
import PropertyBased
@testable import RegistryCore
import ServiceKit
import Testing

/// The generated limits and their runtime, as values: no server, no database.
@Suite struct LimitCheckTests {
  func check(_ value: String, _ kind: TextKind, min: Int = 0, max: Int = 10) -> (String, [String]) {
    var c = LimitCheck()
    let v = c.text(value, "f", kind: kind, min: min, max: max) ?? value
    return (v, c.violations.map(\.rule))
  }

  @Test(
    arguments: [
      // (value, kind, min, max, rule or nil when accepted)
      ("91330502MA2B3C4D58", TextKind.upperAlnum, 18, 18, nil),
      ("91330502MA2B3C4D5\u{212A}", .upperAlnum, 18, 18, "limits.characters"),  // KELVIN SIGN, not K
      ("91330502ma2b3c4d58", .upperAlnum, 18, 18, "limits.characters"),
      ("9133050", .upperAlnum, 18, 18, "limits.length"),
      ("330502", .digits, 6, 9, nil),
      ("330502\u{0}' OR 1=1", .digits, 0, 9, "limits.characters"),
      ("３３０５０２", .digits, 0, 9, "limits.characters"),  // full-width digits are not ASCII digits
      ("名字\u{0}尾巴", .line, 1, 100, "limits.characters"),
      ("路\u{1B}]0;pwned\u{7}", .line, 0, 200, "limits.characters"),
      ("a\u{202E}b", .line, 0, 200, "limits.characters"),
      ("a\u{85}b", .line, 0, 200, "limits.characters"),
      ("第一行\n第二行\t", .paragraph, 0, 200, nil),
      ("第一行\n第二行", .line, 0, 200, "limits.characters"),
      ("\r\n", .paragraph, 0, 200, "limits.characters"),
      ("   ", .line, 1, 10, "limits.length"),
      ("\u{3000}", .line, 1, 10, "limits.length"),
      ("\n\n", .paragraph, 1, 10, "limits.blank"),
      ("0572-1234+5", .phone, 0, 20, nil),
      ("0572 1234", .phone, 0, 20, "limits.characters"),
      ("abc-1_2.3:4/5", .token, 1, 128, nil),
      ("abc,def", .token, 1, 128, "limits.characters"),
    ] as [(String, TextKind, Int, Int, String?)])
  func textCases(value: String, kind: TextKind, min: Int, max: Int, rule: String?) {
    let (_, rules) = check(value, kind, min: min, max: max)
    #expect(rules == (rule.map { [$0] } ?? []), "\(value.debugDescription)")
  }

  @Test func lengthIsCountedInScalarsAfterNFCAndTextIsTrimmed() {
    let (v, rules) = check("  Cafe\u{301}  ", .line, max: 4)
    #expect(rules.isEmpty)
    #expect(v == "Caf\u{E9}" && v.unicodeScalars.count == 4)
    #expect(check(String(repeating: "托", count: 10), .line, max: 10).1.isEmpty)
    #expect(check(String(repeating: "托", count: 11), .line, max: 10).1 == ["limits.length"])
  }

  @Test func hugeInputIsRefusedUnread() {
    let huge = String(repeating: "托", count: 1 << 20)
    #expect(check(huge, .line, max: 64).1 == ["limits.length"])
  }

  @Test func integersAndDoublesKeepTheirRange() {
    var c = LimitCheck()
    c.range(Int32.max, "a", min: 0, max: 2000)
    c.range(Int64.min, "b", min: 0, max: 10)
    c.range(Int64.max, "c", min: 0, max: .max)
    c.range(Double.nan, "d", min: -90, max: 90)
    c.range(-Double.infinity, "e", min: -90, max: 90)
    c.range(90.0, "f", min: -90, max: 90)
    #expect(c.violations.map(\.field) == ["a", "b", "d", "e"])
  }

  @Test func generatedChecksNameNestedFieldsAndUnknownEnums() throws {
    var request = Tuoyu_Registry_V1_SubmitFilingRequest.with {
      $0.requestID = "r-1"
      $0.creditCode = "91330502MA2B3C4D58"
      $0.facts.seats.infant = .with {
        $0.classes = 0; $0.seats = .max
      }
      $0.facts.careTypes = [.fullDay, .UNRECOGNIZED(99)]
      $0.facts.monthlyFee.fen = .max
      $0.facts.latitude = .nan
    }
    let fields = request.limitViolations().map(\.field)
    #expect(fields == ["facts.care_types[1]", "facts.monthly_fee.fen", "facts.latitude", "facts.seats.infant.seats"])
    var register = Tuoyu_Registry_V1_RegisterInstitutionRequest.with {
      $0.requestID = "r-2"
      $0.creditCode = "91330502MA2B3C4D58"
      $0.displayName = "托育"
      $0.registrationAuthority = "局"
    }
    #expect(register.limitViolations().map(\.field) == ["legal_nature"])
    register.legalNature = .UNRECOGNIZED(7)
    #expect(register.limitViolations().map(\.rule) == ["limits.enum"])
  }

  @Test func repeatedFieldsPastTheirBoundAreNotWalked() throws {
    var request = Tuoyu_Registry_V1_RefuseFilingRequest.with {
      $0.requestID = "r"
      $0.creditCode = "91330502MA2B3C4D58"
      $0.reasons = Array(repeating: "\u{0}", count: 10_000)
    }
    let violations = request.limitViolations()
    #expect(violations.map(\.rule) == ["limits.items"])
  }

  @Test func violationsAreCappedAndTheErrorCarriesBadRequest() throws {
    var c = LimitCheck()
    for i in 0..<50 { c.range(-1, "f\(i)", min: 0, max: 1) }
    let error = try #require(c.error)
    #expect(error.violations.count == LimitCheck.reportLimit && error.unreported == 30)
    let rpc = error.rpcError
    #expect(rpc.code == .invalidArgument && rpc.message.hasSuffix("(and 49 more)"))
    let status = try Google_Rpc_Status(serializedBytes: try #require(rpc.details))
    let bad = try Google_Rpc_BadRequest(unpackingAny: status.details[0])
    #expect(bad.fieldViolations.count == 20 && bad.fieldViolations[0].field == "f0")
  }

  @Test func quotedInputIsShortAndEscaped() {
    #expect(quoted(String(repeating: "3", count: 20_000)).count == 43)
    #expect(quoted("a\u{1B}[2Jb") == "\"a\\u{1b}[2Jb\"")
  }
}

/// The rules with extreme values: whatever the numbers, they answer (a refusal or not), never trap.
@Suite struct ExtremeValueProperties {
  static let day = LocalDate(year: 2025, month: 6, day: 2)!

  static func context(_ values: [Int], fee: Int64?) -> FilingContext {
    let keys = RulePack.Key.allCases
    let pack = RulePack(
      zip(keys, values).map { RulePack.Value($0, from: LocalDate(year: 2020, month: 1, day: 1)!, $1) }
        + zip(keys, values.reversed()).map {
          RulePack.Value($0, region: "330502", from: LocalDate(year: 2021, month: 1, day: 1)!, $1)
        })
    return FilingContext(date: day, pack: pack, county: "330502", city: "330500", countyAverageFee: fee)
  }

  @Test func filingRulesNeverTrap() async {
    let int32 = Gen.int32(in: Int32.min...Int32.max)
    await propertyCheck(
      count: 2000,
      input: int32.array(of: 10), Gen.int(in: Int.min...Int.max).array(of: 7), Gen.int64(in: Int64.min...Int64.max),
      Gen.int(in: 0...6)
    ) { n, rules, fee, mode in
      let facts = FilingFacts.with {
        $0.mode = ServiceMode(rawValue: mode) ?? .privateCentre
        $0.careTypes = [.fullDay]
        $0.address = "路"
        $0.townshipCode = "330502001"
        $0.inclusive = fee % 2 == 0
        $0.monthlyFee.fen = fee
        $0.seats.infant = .with {
          $0.classes = n[0]; $0.seats = n[1]
        }
        $0.seats.toddler = .with {
          $0.classes = n[2]; $0.seats = n[3]
        }
        $0.seats.olderToddler = .with {
          $0.classes = n[4]; $0.seats = n[5]
        }
        $0.seats.mixed = .with {
          $0.classes = n[6]; $0.seats = n[7]
        }
        $0.seats.family = n[8]
        $0.carers = n[9]
        $0.premisesTenureYears = n[0]
      }
      let refusals = FilingRules.facts(facts, Self.context(rules, fee: fee))
      if n.contains(where: { $0 < 0 }) && mode != 1 { #expect(!refusals.isEmpty) }
      let total = FilingRules.totalSeats(facts.seats)
      #expect(total == [n[1], n[3], n[5], n[7], n[8]].reduce(0) { $0 + Int($1) })
      if (try? FilingRules.storedTotal(facts.seats)) != nil { #expect((0...FilingRules.maxTotalSeats).contains(total)) }
    }
  }

  @Test func feeBandsOfEveryInt64() async {
    await propertyCheck(count: 5000, input: Gen.int64(in: Int64.min...Int64.max)) { fen in
      let band = Disclosure.feeBand(fen)
      #expect(!band.isEmpty)
    }
    #expect(Disclosure.feeBand(.max) == "above 100000 yuan")
    #expect(Disclosure.feeBand(180_000) == "1500–2000 yuan")
  }

  @Test func checkedArithmeticAgreesWithWideArithmetic() async {
    await propertyCheck(count: 5000, input: Gen.int64(in: Int64.min...Int64.max), Gen.int64(in: Int64.min...Int64.max))
    { a, b in
      let wide = Int128(a) + Int128(b)
      let got = try? Checked.add(a, b, "x")
      let range = Int128(Int64.min)...Int128(Int64.max)
      #expect(got.map { Int128($0) } == (range ~= wide ? wide : nil))
      let product = Int128(a) * Int128(b)
      let gotProduct = try? Checked.multiply(a, b, "x")
      #expect(gotProduct.map { Int128($0) } == (range ~= product ? product : nil))
    }
    #expect(Checked.divideRoundingUp(7, 0) == nil && Checked.divideRoundingUp(7, 2) == 4)
    #expect(throws: Refusal.self) { try Checked.sum([Int64.max, 1], "x") }
  }

  @Test func creditCodesOfAnyTextNeverTrap() async {
    await propertyCheck(count: 3000, input: Gen.character(in: "\u{0}"..."\u{2FFF}").string(of: 0...40)) { text in
      _ = CreditCode.problem(text)
    }
    await propertyCheck(count: 1000, input: Gen.number.string(of: 13)) { digits in
      let code = CreditCode.complete("9133" + digits)!
      #expect(CreditCode.problem(code) == nil)
      // The last character replaced by a look-alike of each letter is never accepted.
      #expect(CreditCode.problem(String(code.dropLast()) + "\u{212A}") != nil)
    }
  }
}
