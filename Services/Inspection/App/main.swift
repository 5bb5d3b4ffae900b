import InspectionCore
import RegistryView
import ServiceKit

// tuoyu-inspection: checklists, inspections, rectification, credit grades, acceptance of new seats
// (schema "inspection"). It follows the registry's feed (--peer-registry HOST:PORT, with
// --service-token-file).
await ServiceMain.run(
  name: "inspection", schema: "inspection", migrations: InspectionService.migrations,
  sharedMigrations: [RegistryView.migrations].compactMap { $0 }, policy: InspectionService.policy,
  build: InspectionService.build)
