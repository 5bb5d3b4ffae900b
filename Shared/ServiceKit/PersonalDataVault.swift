import Crypto
import Foundation

/// Personal data (resident ID numbers) as a service stores it: never in plain text. For each
/// value the database holds
///
/// - a **keyed hash** (HMAC-SHA256) to find a person by their number without storing it, and
/// - a **sealed copy** (AES-256-GCM, authenticated) for the roles allowed to see the number,
///
/// both tagged with the id of the key that made them, so keys can rotate: the first key of the
/// key file seals and hashes, the others still open and match what they made. Everybody else is
/// shown `mask(_:)`. A wrong or missing key fails loudly (`VaultError`), never returns garbage.
///
/// Key file: one key per line, `ID:BASE64` of 32 random bytes (`openssl rand -base64 32`); `#`
/// starts a comment. The hash and the encryption keys are derived from each with HKDF-SHA256 under
/// separate labels, so neither can stand in for the other.
public struct PersonalDataVault: Sendable {
  public struct Key: Sendable {
    public let id: String
    let hashKey: SymmetricKey
    let sealKey: SymmetricKey

    /// A key from 32 bytes of secret.
    public init(id: String, secret: some ContiguousBytes) throws(VaultError) {
      guard !id.isEmpty, id.utf8.count <= 32, id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != 0x3A }) else {
        throw VaultError.badKeyFile("a key id is 1–32 printable ASCII characters without ':'")
      }
      let master = SymmetricKey(data: secret)
      guard master.bitCount == 256 else { throw VaultError.badKeyFile("key \(id) is not 32 bytes") }
      self.id = id
      hashKey = HKDF<SHA256>.deriveKey(
        inputKeyMaterial: master, info: Data("tuoyu.vault.hmac-sha256".utf8), outputByteCount: 32)
      sealKey = HKDF<SHA256>.deriveKey(
        inputKeyMaterial: master, info: Data("tuoyu.vault.aes-256-gcm".utf8), outputByteCount: 32)
    }
  }

  /// The current key first.
  public let keys: [Key]

  public init(keys: [Key]) throws(VaultError) {
    guard !keys.isEmpty else { throw VaultError.badKeyFile("no key") }
    guard Set(keys.map(\.id)).count == keys.count else { throw VaultError.badKeyFile("a key id appears twice") }
    self.keys = keys
  }

  /// Reads a key file (see the type's documentation).
  public init(keyFile path: String) throws(VaultError) {
    let text: String
    do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
      throw VaultError.badKeyFile("cannot read the vault key file \(path)")
    }
    var keys: [Key] = []
    for (n, raw) in text.split(whereSeparator: \.isNewline).enumerated() {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("#") { continue }
      let parts = line.split(separator: ":", maxSplits: 1)
      guard parts.count == 2, let secret = Data(base64Encoded: String(parts[1])) else {
        throw VaultError.badKeyFile("line \(n + 1) of \(path) is not ID:BASE64")
      }
      keys.append(try Key(id: String(parts[0]), secret: secret))
    }
    try self.init(keys: keys)
  }

  var current: Key { keys[0] }

  /// What a service stores for one value.
  public struct Stored: Sendable, Hashable {
    /// The key that made both.
    public var keyID: String
    /// HMAC-SHA256 of the value: equal values, equal hashes (under one key).
    public var hash: [UInt8]
    /// Nonce, ciphertext and tag (AES-256-GCM's combined form).
    public var sealed: [UInt8]
  }

  /// Hash and seal `value` with the current key.
  public func protect(_ value: String) throws(VaultError) -> Stored {
    let key = current
    do {
      let box = try AES.GCM.seal(Data(value.utf8), using: key.sealKey, authenticating: Data(key.id.utf8))
      guard let combined = box.combined else { throw VaultError.sealFailed }
      return Stored(keyID: key.id, hash: hash(value, with: key), sealed: Array(combined))
    } catch let e as VaultError {
      throw e
    } catch {
      throw VaultError.sealFailed
    }
  }

  /// The hashes of `value` under every key, to find it whichever key stored it.
  public func lookupHashes(_ value: String) -> [(keyID: String, hash: [UInt8])] {
    keys.map { ($0.id, hash(value, with: $0)) }
  }

  func hash(_ value: String, with key: Key) -> [UInt8] {
    Array(HMAC<SHA256>.authenticationCode(for: Data(value.utf8), using: key.hashKey))
  }

  /// The value behind `sealed`; throws when its key is not in the vault or the bytes (or key)
  /// are not the ones that sealed it.
  public func reveal(keyID: String, sealed: [UInt8]) throws(VaultError) -> String {
    guard let key = keys.first(where: { $0.id == keyID }) else { throw VaultError.unknownKey(keyID) }
    do {
      let box = try AES.GCM.SealedBox(combined: sealed)
      let plain = try AES.GCM.open(box, using: key.sealKey, authenticating: Data(keyID.utf8))
      guard let text = String(data: plain, encoding: .utf8) else { throw VaultError.authenticationFailed(keyID) }
      return text
    } catch {
      throw VaultError.authenticationFailed(keyID)
    }
  }

  /// A short, keyed tag of an ID number (never the number): what idempotency digests and audit
  /// rows see of a request that carries one.
  public func tag(_ id: String) -> String {
    id.isEmpty ? "" : "#" + Self.hex(lookupHashes(id)[0].hash.prefix(12))
  }

  /// Lower-case hex of `bytes` (a keyed hash as the tables store it), by table: Foundation's
  /// `String(format:)` costs about a microsecond a byte, on every lookup.
  public static func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(64)
    for b in bytes {
      out.append(digits[Int(b >> 4)])
      out.append(digits[Int(b & 0x0F)])
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// A resident ID number as shown to those who may not see it: the first four characters (the
  /// province and city) and the last two, the rest starred — `3305************1X`. Anything
  /// else is starred but for its last character.
  public static func mask(_ id: String) -> String {
    let chars = Array(id)
    guard chars.count > 6 else { return String(repeating: "*", count: chars.count) }
    return String(chars.prefix(4)) + String(repeating: "*", count: chars.count - 6) + String(chars.suffix(2))
  }
}

public enum VaultError: Error, Sendable, Hashable, CustomStringConvertible {
  case badKeyFile(String)
  case unknownKey(String)
  case authenticationFailed(String)
  case sealFailed

  public var description: String {
    switch self {
    case .badKeyFile(let why): "personal-data vault: \(why)"
    case .unknownKey(let id): "personal-data vault: no key \(id) to open this value (was the key file replaced?)"
    case .authenticationFailed(let id):
      "personal-data vault: the value does not open with key \(id) (wrong key or altered bytes)"
    case .sealFailed: "personal-data vault: sealing failed"
    }
  }
}

/// The resident identity number (公民身份号码), GB 11643-1999: 17 digits — the 6-digit region
/// code, the date of birth as YYYYMMDD, a 3-digit sequence (odd for men) — and a check character
/// (0–9 or X) over them, ISO 7064 MOD 11-2. Checked on its bytes.
public enum ResidentID {
  static let weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
  static let checks = Array("10X98765432".utf8)

  /// Why `id` is not a valid number, or nil when it is.
  public static func problem(_ id: String, today: (year: Int, month: Int, day: Int)? = nil) -> String? {
    let b = Array(id.utf8)
    guard b.count == 18 else { return "must be 18 characters" }
    guard b[0..<17].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return "the first 17 characters are digits" }
    let sum = zip(b[0..<17], weights).reduce(0) { $0 + Int($1.0 - 0x30) * $1.1 }
    let expected = checks[sum % 11]
    guard b[17] == expected else { return "check character is wrong" }
    guard let birth = birthDate(id) else { return "the date of birth in it is not a date" }
    if let today, (birth.year, birth.month, birth.day) > (today.year, today.month, today.day) {
      return "the date of birth in it is in the future"
    }
    return nil
  }

  /// The date of birth the number holds (characters 7–14), when it is a real day after 1900.
  public static func birthDate(_ id: String) -> (year: Int, month: Int, day: Int)? {
    let b = Array(id.utf8)
    guard b.count == 18, b[6..<14].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    func n(_ r: Range<Int>) -> Int { b[r].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
    let (y, m, d) = (n(6..<10), n(10..<12), n(12..<14))
    guard y >= 1900, (1...12).contains(m), d >= 1 else { return nil }
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
    let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
    return d <= days ? (y, m, d) : nil
  }

  /// Completes 17 digits with the check character (for tests and demo data).
  public static func complete(_ digits17: String) -> String? {
    let b = Array(digits17.utf8)
    guard b.count == 17, b.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
    let sum = zip(b, weights).reduce(0) { $0 + Int($1.0 - 0x30) * $1.1 }
    return digits17 + String(UnicodeScalar(checks[sum % 11]))
  }
}
