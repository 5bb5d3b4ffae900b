import RegistryView
import ServiceKit
import WorkforceCore

// tuoyu-workforce: people, employment, certificates, training, lifetime bans (schema "workforce").
// It follows the registry's change feed (--peer-registry HOST:PORT, with --service-token-file)
// and keeps ID numbers through the vault (--vault-key-file).
await ServiceMain.run(
  name: "workforce", schema: "workforce", migrations: WorkforceService.migrations,
  sharedMigrations: [RegistryView.migrations].compactMap { $0 }, policy: WorkforceService.policy,
  build: WorkforceService.build)
