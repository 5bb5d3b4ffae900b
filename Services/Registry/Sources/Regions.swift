import API
import Foundation
import Postgres
import RPC
import RegistryAPI
import ServiceKit
import SwiftProtobuf

extension RegistryService {
  func region(_ db: PostgresSession, _ code: String) async throws -> Tuoyu_Registry_V1_Region {
    guard let r = try await RegistryStore.regions(db, [code]).first else {
      throw Refusal(.notFound, rule: "region.known", field: "code", "unknown region \(quoted(code))")
    }
    return r
  }

  public func getRegion(
    request: Tuoyu_Registry_V1_GetRegionRequest, context: ServerContext
  ) async throws
    -> Tuoyu_Registry_V1_Region
  {
    try await pool.withConnection { try await region($0, request.code) }
  }

  public func listRegions(
    request: Tuoyu_Registry_V1_ListRegionsRequest, context: ServerContext
  ) async throws -> Tuoyu_Registry_V1_ListRegionsResponse {
    let size = try PageToken.size(request.pageSize, default: 200, max: 500)
    let filters = "regions|\(request.rootCode)"
    let after = try PageToken.read(request.pageToken, filters: filters)
    try await knownRegion(request.rootCode, field: "root_code")
    return try await pool.withConnection { db in
      let codes = try await RegistryStore.subtreeCodes(db, root: request.rootCode, after: after, limit: size + 1)
      var response = Tuoyu_Registry_V1_ListRegionsResponse()
      response.regions = try await RegistryStore.regions(db, Array(codes.prefix(size)))
      if codes.count > size, let last = response.regions.last {
        response.nextPageToken = PageToken.make(after: last.code, filters: filters)
      }
      return response
    }
  }

  public func putRegion(
    request: Tuoyu_Registry_V1_PutRegionRequest, context: ServerContext
  ) async throws
    -> Tuoyu_Registry_V1_Region
  {
    let (level, problems) = RegionRules.check(request)
    try Refusals.check(problems)
    return try await Mutation.run(
      pool, context: context, requestID: request.requestID, request: request, target: "regions/\(request.code)"
    ) { tx in
      if !request.parentCode.isEmpty {
        let parent = try await RegistryStore.region(tx, request.parentCode)
        let expected = level == "county" ? "city" : "county"
        guard parent?.level == expected else {
          throw Refusal.invalid(
            "parent_code", rule: "region.parent", "the parent of a \(level) must be a known \(expected)")
        }
      }
      if let existing = try await RegistryStore.region(tx, request.code),
        existing.level != level || existing.parent != (request.parentCode.isEmpty ? nil : request.parentCode)
      {
        throw Refusal.precondition(
          "region.fixed-place", "a region's level and parent do not change", field: "parent_code")
      }
      try await RegistryStore.putRegion(
        tx, code: request.code, name: request.displayName, level: level,
        parent: request.parentCode.isEmpty ? nil : request.parentCode, years: request.years)
      try await Outbox.append(tx, eventType: "region.put", subject: "regions/\(request.code)")
      return try await region(tx, request.code)
    }
  }
}
