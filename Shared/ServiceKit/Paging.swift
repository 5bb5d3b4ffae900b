import Foundation

/// Opaque page tokens: the last key of the page and the filters it was read with, so a token
/// used with other filters is refused instead of silently skipping rows. Page sizes: 0 means the
/// list's default, more than its maximum is refused.
public enum PageToken {
  public static func make(after: String, filters: String) -> String {
    Data("v1\u{1F}\(after)\u{1F}\(filters)".utf8).base64EncodedString()
  }

  public static func read(_ token: String, filters: String) throws(Refusal) -> String {
    if token.isEmpty { return "" }
    guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else {
      throw Refusal.invalid("page_token", rule: "paging.token", "not a page token this service issued")
    }
    let parts = text.split(separator: "\u{1F}", omittingEmptySubsequences: false)
    guard parts.count == 3, parts[0] == "v1" else {
      throw Refusal.invalid("page_token", rule: "paging.token", "not a page token this service issued")
    }
    guard parts[2] == filters else {
      throw Refusal.invalid("page_token", rule: "paging.same-filters", "the page token was issued for other filters")
    }
    return String(parts[1])
  }

  public static func size(_ requested: Int32, default d: Int = 50, max m: Int = 500) throws(Refusal) -> Int {
    guard (0...Int32(m)).contains(requested) else {
      throw Refusal.invalid("page_size", rule: "paging.size", "page_size must be 0–\(m), got \(requested)")
    }
    return requested == 0 ? d : Int(requested)
  }
}
