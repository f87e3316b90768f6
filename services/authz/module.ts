import { AuthzAdminService } from "../../gen/rollcall/authz/v1/admin_pb.js";
import { AuthzService } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { onPolicyChanged } from "../runtime/authz/policy-changed.js";
import { followOrganizationDeletions } from "../runtime/organization-deletions.js";
import type { ServiceModule } from "../runtime/service-module.js";
import { createAuthz } from "./context.js";
import { assignmentHandlers } from "./handlers/assignments.js";
import { catalogueHandlers } from "./handlers/catalogue.js";
import { decisionHandlers } from "./handlers/decisions.js";
import { roleHandlers } from "./handlers/roles.js";
import { authzMigrations } from "./migrations.js";

/**
 * Authz: roles, resources, permissions and OWN/ALL grants per organisation, and the Check that
 * every service asks before acting. Decisions come from a compiled in-memory policy per
 * organisation, kept current by PolicyChanged on the bus (and a poll, should a message be lost).
 *
 * The policy administration is guarded by the built-in resource "roles": read for listings,
 * create/update/delete for roles and their grants (update also for custom resources and
 * permissions), assign for role assignments. Platform callers (service tokens, staff) pass.
 */
export const authzModule: ServiceModule = createAuthzModule();

export interface AuthzModuleOptions {
  /** How often loaded policies' revisions are compared with the database (see PolicyCache). */
  pollMs?: number;
}

export function createAuthzModule(options: AuthzModuleOptions = {}): ServiceModule {
  return {
    name: "authz",
    services: [AuthzService, AuthzAdminService],
    migrations: authzMigrations,
    async start({ db, bus, server, logger }) {
      const authz = createAuthz({ db, bus, logger, pollMs: options.pollMs });
      await db.withSystem((tx) => authz.catalogue.syncBuiltIns(tx));
      const subscription = onPolicyChanged(bus, logger, (org, revision) => authz.cache.noteRevision(org, revision));
      // Check is how services ask before acting (with mTLS, by certificate); UIs use the others.
      server.register(AuthzService, decisionHandlers(authz), { internalMethods: ["check"] });
      server.register(AuthzAdminService, { ...roleHandlers(authz), ...catalogueHandlers(authz), ...assignmentHandlers(authz) });
      const deletions = await followOrganizationDeletions(bus, "authz", logger, async (org) => {
        await db.withTenant(org, (tx) => authz.roles.deleteOrganization(tx, org));
        authz.cache.forget(org);
      });
      return {
        stop: async () => {
          await deletions.stop();
          subscription.unsubscribe();
          authz.cache.close();
        },
      };
    },
  };
}
