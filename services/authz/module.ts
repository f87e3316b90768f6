import { AuthzAdminService } from "../../gen/rollcall/authz/v1/admin_pb.js";
import { AuthzService } from "../../gen/rollcall/authz/v1/authz_pb.js";
import type { ServiceModule } from "../runtime/service-module.js";

/** Authz: roles, permissions, own/all grants, Check. Handlers land with issue 4. */
export const authzModule: ServiceModule = {
  name: "authz",
  services: [AuthzService, AuthzAdminService],
  migrations: [],
  async start({ server }) {
    for (const service of this.services) server.register(service, {});
    return { stop: async () => undefined };
  },
};
