import Foundation

extension RegistryService {
  /// The registry's own migrations (0100 and up), shipped as a resource.
  public static var migrations: URL? { Bundle.module.url(forResource: "Migrations", withExtension: nil) }
}
