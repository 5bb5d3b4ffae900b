// The request limits of `tuoyu/common/v1/limits.proto`, turned into `applyLimits(_:)` of each
// message a tuoyu request can carry. A request message (or one inside it) whose string, number or
// repeated field declares no limit is an error: the contract must say how large each may be.
import SwiftProtobuf
import SwiftProtobufPluginLibrary

struct LimitsError: Error, CustomStringConvertible {
  let description: String
}

enum LimitsGenerator {
  /// Whether the message belongs to a tuoyu API (only those carry limits).
  static func isTuoyu(_ d: Descriptor) -> Bool { d.file.package.hasPrefix("tuoyu.") }

  /// The declared limits of a field, if any.
  static func limits(of field: FieldDescriptor) -> Tuoyu_Common_V1_Limits? {
    guard let bytes: [UInt8] = try? field.options.serializedBytes(),
      let options = try? Google_Protobuf_FieldOptions(
        serializedBytes: bytes, extensions: Tuoyu_Common_V1_Limits_Extensions),
      options.hasTuoyu_Common_V1_limits
    else { return nil }
    return options.Tuoyu_Common_V1_limits
  }

  /// Every tuoyu message reachable from the input of a method of `services`.
  static func requestMessages(of services: [ServiceDescriptor]) -> [String: Descriptor] {
    var seen: [String: Descriptor] = [:]
    var stack = services.flatMap { $0.methods.map(\.inputType) }.filter(isTuoyu)
    while let d = stack.popLast() {
      guard seen[d.fullName] == nil else { continue }
      seen[d.fullName] = d
      for f in d.fields where f.type == .message || f.type == .group {
        if let m = f.messageType, isTuoyu(m) { stack.append(m) }
      }
    }
    return seen
  }

  static func allMessages(_ file: FileDescriptor) -> [Descriptor] {
    var out: [Descriptor] = []
    func walk(_ d: Descriptor) {
      if d.options.mapEntry { return }
      out.append(d)
      d.messages.forEach(walk)
    }
    file.messages.forEach(walk)
    return out
  }

  static func textKind(_ k: Tuoyu_Common_V1_TextKind) -> String? {
    switch k {
    case .line: ".line"
    case .paragraph: ".paragraph"
    case .digits: ".digits"
    case .upperAlnum: ".upperAlnum"
    case .token: ".token"
    case .phone: ".phone"
    case .base64: ".base64"
    default: nil
    }
  }

  /// The extension making `message` a `LimitedMessage`. `strict`: every field must declare.
  static func emit(
    _ message: Descriptor, strict: Bool, namer: SwiftProtobufNamer, into out: Printer
  ) throws {
    var body: [String] = []
    func missing(_ f: FieldDescriptor, _ what: String) throws {
      if strict {
        throw LimitsError(description: "\(f.fullName): declare \(what) with [(tuoyu.common.v1.limits) = {…}]")
      }
    }
    for f in message.fields {
      if f.isMap { throw LimitsError(description: "\(f.fullName): map fields are not supported in requests") }
      if f.realContainingOneof != nil {
        throw LimitsError(description: "\(f.fullName): oneofs are not supported in requests")
      }
      let names = namer.messagePropertyNames(field: f, prefixed: "_", includeHasAndClear: true)
      let prop = names.name
      let limits = limits(of: f)
      let label = f.name
      // The statements checking one value `v` (an lvalue) named `n` (a Swift string expression).
      func checks(_ v: String, _ n: String) throws -> [String] {
        switch f.type {
        case .string:
          guard let l = limits, l.maxLength > 0, let kind = textKind(l.text) else {
            try missing(f, "max_length and text"); return []
          }
          return [
            "if let s = check.text(\(v), \(n), kind: \(kind), min: \(l.minLength), max: \(l.maxLength)) { \(v) = s }"
          ]
        case .bytes:
          guard let l = limits, l.maxLength > 0 else { try missing(f, "max_length"); return [] }
          return ["check.byteCount(\(v).count, \(n), max: \(l.maxLength))"]
        case .int32, .int64, .uint32, .uint64, .sint32, .sint64, .fixed32, .fixed64, .sfixed32, .sfixed64,
          .double, .float:
          guard let l = limits, l.hasMin, l.hasMax, l.min <= l.max else { try missing(f, "min and max"); return [] }
          return ["check.range(\(v), \(n), min: \(l.min), max: \(l.max))"]
        case .bool:
          return []
        case .enum:
          var out = ["if case .UNRECOGNIZED(let raw) = \(v) { check.unknownEnum(\(n), raw) }"]
          // `min: 1` on an enum: a value must be chosen (the zero value is UNSPECIFIED).
          if let l = limits, l.hasMin, l.min >= 1 {
            out.append("else if \(v).rawValue < \(l.min) { check.required(\(n)) }")
          }
          return out
        case .message, .group:
          guard let m = f.messageType, isTuoyu(m) else { return [] }
          if m.fullName == "tuoyu.common.v1.Money", let l = limits, l.hasMin || l.hasMax {
            guard l.hasMin, l.hasMax, l.min <= l.max else { try missing(f, "min and max"); return [] }
            let fenName = n.hasSuffix("\"") ? String(n.dropLast()) + ".fen\"" : "\(n) + \".fen\""
            return ["check.range(\(v).fen, \(fenName), min: \(l.min), max: \(l.max))"]
          }
          return []
        }
      }
      let quotedName = "\"\(label)\""
      if f.isRepeated {
        guard let l = limits, l.maxItems > 0 else {
          try missing(f, "max_items")
          continue
        }
        body.append("check.items(\(prop).count, \(quotedName), max: \(l.maxItems))")
        body.append("if \(prop).count <= \(l.maxItems) {")
        if f.type == .message, let m = f.messageType, isTuoyu(m),
          !(m.fullName == "tuoyu.common.v1.Money" && (limits?.hasMin ?? false))
        {
          body.append(
            "  for i in \(prop).indices { check.nested(\(prop)[i], \(quotedName), index: i) { \(prop)[i] = $0 } }")
        } else {
          let inner = try checks("\(prop)[i]", "\"\(label)[\\(i)]\"")
          if !inner.isEmpty {
            body.append("  for i in \(prop).indices {")
            body += inner.map { "    " + $0 }
            body.append("  }")
          }
        }
        body.append("}")
        continue
      }
      let inner = try checks(prop, quotedName)
      let nestedMessage =
        (f.type == .message || f.type == .group) && inner.isEmpty
        && (f.messageType.map(isTuoyu) ?? false)
      if nestedMessage {
        body.append("if \(names.has) { check.nested(\(prop), \(quotedName)) { \(prop) = $0 } }")
      } else if f.hasPresence && !inner.isEmpty {
        body.append("if \(names.has) {")
        body += inner.map { "  " + $0 }
        body.append("}")
      } else {
        body += inner
      }
    }
    let swiftName = namer.fullName(message: message)
    out.line("")
    out.line("extension \(swiftName): LimitedMessage {")
    out.indent {
      out.line("public mutating func applyLimits(_ check: inout LimitCheck) {")
      out.indent { body.forEach { out.line($0) } }
      out.line("}")
    }
    out.line("}")
  }
}
