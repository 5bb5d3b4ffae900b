import SubsidyCore
import ServiceKit

// tuoyu-subsidy (skeleton): starts, migrates schema "subsidy", serves health.
await ServiceMain.run(name: "subsidy", schema: "subsidy", migrations: SubsidyService.migrations)
