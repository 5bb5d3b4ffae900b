import WorkforceCore
import ServiceKit

// tuoyu-workforce (skeleton): starts, migrates schema "workforce", serves health.
await ServiceMain.run(name: "workforce", schema: "workforce", migrations: WorkforceService.migrations)
