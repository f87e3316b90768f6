export { openDatabase, type Database, type OpenDatabaseOptions } from "./database.js";
export { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.js";
export { type Migration, type MigrationContext } from "./migrate.js";
export {
  enableTenantIsolation,
  grantRuntimeAccess,
  ORG_SETTING,
  SYSTEM_ROLE,
  TENANT_ROLE,
  type SqlContext,
  type TenantIsolationOptions,
} from "./rls.js";
export { Sql, violatedUnique } from "./sql.js";
