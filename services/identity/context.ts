import type { Config } from "../runtime/config.js";
import type { Database } from "../runtime/db/index.js";
import { Sql } from "../runtime/db/index.js";
import type { Cache } from "../runtime/cache/cache.js";
import type { Logger } from "../runtime/logger.js";
import type { MeshClients } from "../runtime/mesh-clients.js";
import type { Authorizer } from "../runtime/authz/authorizer.js";
import type { AuditPublisher } from "../runtime/audit-publisher.js";
import type { EventPublisher } from "../runtime/event-publisher.js";
import type { PasswordHasher } from "./crypto/passwords.js";
import type { SecretBox } from "./crypto/secret-box.js";
import type { KeyRing } from "./tokens/key-ring.js";
import type { TokenIssuer } from "./tokens/token-issuer.js";
import type { AuthzLink } from "./authz-link.js";
import { OrganizationStore } from "./organizations/store.js";
import { UserStore } from "./users/store.js";
import { SessionStore } from "./sessions/store.js";

/** What identity's handlers share; built once in module.ts. */
export interface Identity {
  config: Config;
  logger: Logger;
  db: Database;
  sql: Sql;
  cache: Cache;
  clients: MeshClients;
  authz: Authorizer;
  audit: AuditPublisher;
  events: EventPublisher;
  hasher: PasswordHasher;
  box: SecretBox;
  keys: KeyRing;
  tokens: TokenIssuer;
  /** identity's own calls to authz (seeding, assignments, roles for tokens). */
  authzLink: AuthzLink;
  organizations: OrganizationStore;
  users: UserStore;
  sessions: SessionStore;
}

export function stores(db: Database) {
  const sql = new Sql(db.sequelize);
  return { sql, organizations: new OrganizationStore(sql), users: new UserStore(sql), sessions: new SessionStore(sql) };
}
