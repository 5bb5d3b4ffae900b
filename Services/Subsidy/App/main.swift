import RegistryView
import ServiceKit
import SubsidyCore

// tuoyu-subsidy: seat awards, enrolment and milk subsidies, budgets, the ledger (schema "subsidy").
// It follows the registry's feed (--peer-registry) and inspection's (--peer-inspection), with
// --service-token-file, and keeps ID numbers through the vault (--vault-key-file).
await ServiceMain.run(
  name: "subsidy", schema: "subsidy", migrations: SubsidyService.migrations,
  sharedMigrations: [RegistryView.migrations].compactMap { $0 }, policy: SubsidyService.policy,
  build: SubsidyService.build)
