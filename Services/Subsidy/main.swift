import Foundation
import ServiceKit

// tuoyu-subsidy: the subsidy service (skeleton: starts, migrates schema "subsidy", serves health).
await ServiceMain.run(
  name: "subsidy", schema: "subsidy", migrations: Bundle.module.url(forResource: "Migrations", withExtension: nil))
