import InspectionCore
import ServiceKit

// tuoyu-inspection (skeleton): starts, migrates schema "inspection", serves health.
await ServiceMain.run(name: "inspection", schema: "inspection", migrations: InspectionService.migrations)
