import Foundation
import ServiceKit

// tuoyu-registry: the registry service (skeleton: starts, migrates schema "registry", serves health).
await ServiceMain.run(
  name: "registry", schema: "registry", migrations: Bundle.module.url(forResource: "Migrations", withExtension: nil))
