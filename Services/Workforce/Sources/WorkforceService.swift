import Foundation
import ServiceKit

/// The workforce service (a skeleton: it starts, migrates schema "workforce" and serves health, the change
/// feed, the audit trail and reflection). It grows into the layout of docs/architecture.md:
/// `Rules/`, `Store/`, one handler file per resource, beside `Migrations/`.
public enum WorkforceService {
  /// The service's own migrations (0100 and up), shipped as a resource.
  public static var migrations: URL? { Bundle.module.url(forResource: "Migrations", withExtension: nil) }
}
