import Foundation
import Postgres
import ServiceKit
import ServiceKitTesting
import Testing

@Suite struct ResidentIDTests {
  // Made-up numbers; check characters computed independently (ISO 7064 MOD 11-2 by hand).
  @Test(
    arguments: [
      ("11010519491231002X", nil), ("110105194912310038", nil), ("110105194912310021", "check character"),
      ("1101051949123100", "18 characters"), ("11010519491231002x", "check character"),
      ("1101051949123100２X", "18 characters"), ("11010519491231A02X", "digits"),
    ] as [(String, String?)])
  func cases(id: String, problem: String?) {
    let got = ResidentID.problem(id)
    if let problem {
      #expect(got?.contains(problem) == true, "\(id): \(got ?? "valid")")
    } else {
      #expect(got == nil, "\(id): \(got ?? "")")
    }
  }

  @Test func birthDateAndFuture() throws {
    let id = try #require(ResidentID.complete("33050220240229123"))
    #expect(ResidentID.birthDate(id)! == (2024, 2, 29))
    #expect(ResidentID.problem(id, today: (2024, 2, 28))?.contains("future") == true)
    #expect(ResidentID.problem(id, today: (2026, 1, 1)) == nil)
    #expect(ResidentID.birthDate(ResidentID.complete("33050220230229123")!) == nil)  // not a leap year
    #expect(ResidentID.problem(ResidentID.complete("11010519491331002")!)?.contains("date of birth") == true)
  }
}

@Suite struct VaultTests {
  static func key(_ id: String, _ byte: UInt8) throws -> PersonalDataVault.Key {
    try PersonalDataVault.Key(id: id, secret: [UInt8](repeating: byte, count: 32))
  }

  @Test func protectsRevealsAndMatches() throws {
    let vault = try PersonalDataVault(keys: [Self.key("k1", 1)])
    let id = "11010519491231002X"
    let stored = try vault.protect(id)
    #expect(stored.keyID == "k1" && stored.hash.count == 32)
    #expect(try vault.reveal(keyID: stored.keyID, sealed: stored.sealed) == id)
    // The same number hashes the same (matching), but is sealed differently each time (nonce).
    let again = try vault.protect(id)
    #expect(again.hash == stored.hash && again.sealed != stored.sealed)
    #expect(try vault.protect("110105194912310039").hash != stored.hash)
    // Nothing of the number is in what is stored.
    #expect(!Data(stored.sealed).contains(Data(id.utf8)) && !Data(stored.hash).contains(Data("19491231".utf8)))
  }

  @Test func wrongOrMissingKeysFailLoudly() throws {
    let vault = try PersonalDataVault(keys: [Self.key("k1", 1)])
    let stored = try vault.protect("11010519491231002X")
    let other = try PersonalDataVault(keys: [Self.key("k1", 2)])
    #expect(throws: VaultError.authenticationFailed("k1")) { try other.reveal(keyID: "k1", sealed: stored.sealed) }
    #expect(throws: VaultError.unknownKey("k0")) { try vault.reveal(keyID: "k0", sealed: stored.sealed) }
    var altered = stored.sealed
    altered[altered.count / 2] ^= 1
    #expect(throws: VaultError.authenticationFailed("k1")) { try vault.reveal(keyID: "k1", sealed: altered) }
    // A value sealed under one key id cannot be passed off as another's.
    let two = try PersonalDataVault(keys: [Self.key("k2", 1), Self.key("k1", 1)])
    #expect(throws: VaultError.authenticationFailed("k2")) { try two.reveal(keyID: "k2", sealed: stored.sealed) }
  }

  @Test func keysRotate() throws {
    let old = try PersonalDataVault(keys: [Self.key("2025", 1)])
    let stored = try old.protect("11010519491231002X")
    let rotated = try PersonalDataVault(keys: [Self.key("2026", 9), Self.key("2025", 1)])
    #expect(try rotated.reveal(keyID: "2025", sealed: stored.sealed) == "11010519491231002X")
    #expect(try rotated.protect("x").keyID == "2026")
    #expect(rotated.lookupHashes("11010519491231002X").contains { $0.keyID == "2025" && $0.hash == stored.hash })
  }

  @Test func keyFiles() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vault-\(UUID())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let good = dir.appendingPathComponent("keys").path
    let secret = Data(repeating: 7, count: 32).base64EncodedString()
    try "# current first\nk2:\(secret)\n\nk1:\(Data(repeating: 3, count: 32).base64EncodedString())\n"
      .write(toFile: good, atomically: true, encoding: .utf8)
    let vault = try PersonalDataVault(keyFile: good)
    #expect(vault.keys.map(\.id) == ["k2", "k1"])
    for bad in ["k1:short", "k1 \(secret)", "", "k1:\(secret)\nk1:\(secret)", "bad:id:\(secret)"] {
      try bad.write(toFile: good, atomically: true, encoding: .utf8)
      #expect(throws: VaultError.self) { try PersonalDataVault(keyFile: good) }
    }
    #expect(throws: VaultError.self) { try PersonalDataVault(keyFile: dir.appendingPathComponent("missing").path) }
  }

  @Test(arguments: [
    ("11010519491231002X", "1101************2X"), ("1234567", "1234*67"), ("12345", "*****"), ("", ""),
  ])
  func masking(id: String, masked: String) {
    #expect(PersonalDataVault.mask(id) == masked)
  }

  /// The database never holds a plain number: after a checkpoint, the table's own file on disk
  /// is searched for it.
  @Test(.enabled(if: TestDB.available && ProcessInfo.processInfo.environment["TUOYU_TEST_PG_DIR"] != nil))
  func theTableBytesNeverHoldThePlainNumber() async throws {
    let vault = try PersonalDataVault(keys: [Self.key("k1", 5)])
    let (schema, pool) = try await TestDB.schema("vault")
    _ = schema
    try await pool.query("DROP TABLE IF EXISTS vault_test")
    try await pool.query("CREATE TABLE vault_test (key_id text, id_hash bytea, id_sealed bytea)")
    let ids = (0..<50).map { ResidentID.complete("3305021990010\(String(format: "%04d", $0))")! }
    for id in ids {
      let s = try vault.protect(id)
      try await pool.query(
        """
        INSERT INTO vault_test VALUES (\(s.keyID), \(PostgresBytes(s.hash)), \(PostgresBytes(s.sealed)))
        """)
    }
    // A plain marker the search must find: proof that it reads the table's real bytes.
    try await pool.query("INSERT INTO vault_test (key_id) VALUES ('plain-marker-3305021990')")
    try await pool.query("CHECKPOINT")
    let path = try await pool.query("SELECT pg_relation_filepath('vault_test')")[0].decode(String.self, at: 0)
    let dir = ProcessInfo.processInfo.environment["TUOYU_TEST_PG_DIR"]!
    let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/data/\(path)"))
    #expect(bytes.range(of: Data("plain-marker-3305021990".utf8)) != nil)
    for id in ids { #expect(bytes.range(of: Data(id.utf8)) == nil, "\(PersonalDataVault.mask(id)) is on disk") }
    // And a lookup finds a person by number through the hash alone.
    let wanted = vault.lookupHashes(ids[17]).map { PostgresBytes($0.hash) }
    let found = try await pool.query("SELECT id_sealed FROM vault_test WHERE id_hash = \(wanted[0])")
    #expect(found.count == 1)
    #expect(try vault.reveal(keyID: "k1", sealed: found[0].decode(PostgresBytes.self, at: 0).bytes) == ids[17])
    try await pool.query("DROP TABLE vault_test")
    await pool.close()
  }
}
