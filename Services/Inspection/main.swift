import Foundation
import ServiceKit

// tuoyu-inspection: the inspection service (skeleton: starts, migrates schema "inspection", serves health).
await ServiceMain.run(
  name: "inspection", schema: "inspection", migrations: Bundle.module.url(forResource: "Migrations", withExtension: nil)
)
