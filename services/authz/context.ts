import { Sql, type Database } from "../runtime/db/index.js";
import type { Bus } from "../runtime/bus/bus.js";
import type { Logger } from "../runtime/logger.js";
import { Access } from "./access.js";
import { PolicyCache } from "./policy/policy-cache.js";
import { CatalogueStore } from "./store/catalogue-store.js";
import { PolicyStore } from "./store/policy-store.js";
import { PolicyWriter } from "./store/policy-writer.js";
import { RoleStore } from "./store/role-store.js";

/** What authz's handlers share; built once in module.ts. */
export interface Authz {
  db: Database;
  cache: PolicyCache;
  writer: PolicyWriter;
  access: Access;
  roles: RoleStore;
  catalogue: CatalogueStore;
}

export function createAuthz(deps: { db: Database; bus: Bus; logger: Logger; pollMs?: number }): Authz {
  const sql = new Sql(deps.db.sequelize);
  const cache = new PolicyCache({ store: new PolicyStore(deps.db), logger: deps.logger, pollMs: deps.pollMs });
  const writer = new PolicyWriter(deps.db, deps.bus, deps.logger, (org, revision) => cache.noteRevision(org, revision));
  return {
    db: deps.db,
    cache,
    writer,
    access: new Access(deps.db, sql, cache, writer),
    roles: new RoleStore(sql),
    catalogue: new CatalogueStore(sql),
  };
}
