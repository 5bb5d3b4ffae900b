import Foundation
import ServiceKit

// tuoyu-workforce: the workforce service (skeleton: starts, migrates schema "workforce", serves health).
await ServiceMain.run(
  name: "workforce", schema: "workforce", migrations: Bundle.module.url(forResource: "Migrations", withExtension: nil))
