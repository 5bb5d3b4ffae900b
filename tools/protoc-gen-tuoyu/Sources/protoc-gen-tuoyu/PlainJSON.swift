// The plain JSON of every tuoyu message and enum: what the CLI prints for `-o json`, in the form
// its flags take — enum values by their short names ("filing-submitted"), dates as "YYYY-MM-DD",
// money in yuan under `<field>_yuan`, int64 as numbers, and every field present, defaults
// included (an unset message as its default, an unset date "", an unset proto3 optional null).
import SwiftProtobuf
import SwiftProtobufPluginLibrary

enum PlainJSONGenerator {
  /// An enum value's short name: the value name without the enum's prefix, lower case, `_` as
  /// `-` (INSTITUTION_STATUS_FILING_SUBMITTED → "filing-submitted"); "" for the zero value.
  static func shortName(_ value: EnumValueDescriptor) -> String {
    if value.number == 0 { return "" }
    let prefix = screaming(value.enumType.name) + "_"
    let name = value.name.hasPrefix(prefix) ? String(value.name.dropFirst(prefix.count)) : value.name
    return name.lowercased().replacingOccurrences(of: "_", with: "-")
  }

  /// "InstitutionStatus" → "INSTITUTION_STATUS".
  static func screaming(_ camel: String) -> String {
    var out = ""
    for (i, c) in camel.enumerated() {
      if c.isUppercase && i > 0 { out.append("_") }
      out.append(Character(c.uppercased()))
    }
    return out
  }

  static func emit(_ e: EnumDescriptor, namer: SwiftProtobufNamer, into out: Printer) {
    let swiftName = namer.fullName(enum: e)
    out.line("")
    out.line("extension \(swiftName): PlainJSONEnum {")
    out.indent {
      out.line("/// The short name of each value, as the CLI prints and accepts it.")
      out.line("public static let plainNames: [(String, Self)] = [")
      out.indent {
        for v in e.values where v.number != 0 {
          out.line("(\"\(shortName(v))\", .\(namer.relativeName(enumValue: v))),")
        }
      }
      out.line("]")
    }
    out.line("}")
  }

  static func emit(_ message: Descriptor, namer: SwiftProtobufNamer, into out: Printer) {
    let swiftName = namer.fullName(message: message)
    var entries: [String] = []
    for f in message.fields {
      let names = namer.messagePropertyNames(field: f, prefixed: "_", includeHasAndClear: true)
      let prop = names.name
      var key = f.name
      func value(_ v: String) -> String {
        switch f.type {
        case .message, .group:
          guard let m = f.messageType, LimitsGenerator.isTuoyu(m) else { return ".null" }
          if m.fullName == "tuoyu.common.v1.Money" { return ".yuan(\(v).fen)" }
          return "\(v).plainJSON()"
        case .enum: return ".string(\(v).plainName)"
        case .string: return ".string(\(v))"
        case .bytes: return ".string(\(v).base64EncodedString())"
        case .bool: return ".bool(\(v))"
        case .double, .float: return ".double(Double(\(v)))"
        default: return ".int(Int64(\(v)))"
        }
      }
      if f.type == .message, f.messageType?.fullName == "tuoyu.common.v1.Money" { key += "_yuan" }
      if f.isMap {
        continue
      } else if f.isRepeated {
        entries.append("(\"\(key)\", .array(\(prop).map { \(value("$0")) }))")
      } else if f.hasPresence && f.type != .message && f.type != .group {
        // proto3 `optional`: null when not given.
        entries.append("(\"\(key)\", \(names.has) ? \(value(prop)) : .null)")
      } else {
        entries.append("(\"\(key)\", \(value(prop)))")
      }
    }
    out.line("")
    out.line("extension \(swiftName): PlainJSONMessage {")
    out.indent {
      if message.fullName == "tuoyu.common.v1.Date" {
        out.line("/// \"YYYY-MM-DD\", or \"\" when unset.")
        out.line("public func plainJSON() -> PlainJSON { .date(year: Int(year), month: Int(month), day: Int(day)) }")
      } else {
        out.line("public func plainJSON() -> PlainJSON {")
        out.indent {
          if entries.isEmpty {
            out.line(".object([])")
          } else {
            out.line(".object([")
            out.indent { entries.forEach { out.line($0 + ",") } }
            out.line("])")
          }
        }
        out.line("}")
      }
    }
    out.line("}")
  }

  static func allEnums(_ file: FileDescriptor) -> [EnumDescriptor] {
    var out = file.enums
    func walk(_ d: Descriptor) {
      out += d.enums
      d.messages.forEach(walk)
    }
    file.messages.forEach(walk)
    return out
  }
}
