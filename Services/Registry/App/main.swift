import RegistryCore
import ServiceKit

// tuoyu-registry: institutions, filing, regions, indicators (schema "registry").
await ServiceMain.run(
  name: "registry", schema: "registry", migrations: RegistryService.migrations, policy: RegistryService.policy,
  services: { pool in [RegistryService(pool: pool)] })
