import RegistryCore
import ServiceKit

// tuoyu-registry: institutions, filing, regions, indicators (schema "registry"). With
// --peer-inspection it follows the inspection service's feed (critical findings suspend).
await ServiceMain.run(
  name: "registry", schema: "registry", migrations: RegistryService.migrations, policy: RegistryService.policy,
  build: RegistryService.build)
