import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { ConfigService } from "../../gen/rollcall/identity/v1/config_pb.js";
import { DeviceService } from "../../gen/rollcall/identity/v1/device_pb.js";
import { OAuthService } from "../../gen/rollcall/identity/v1/oauth_pb.js";
import { OrganizationService } from "../../gen/rollcall/identity/v1/organization_pb.js";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import type { ServiceModule } from "../runtime/service-module.js";

/** Identity: tenants, users, sessions and tokens, devices, OAuth, config. Handlers land with issue 3. */
export const identityModule: ServiceModule = {
  name: "identity",
  services: [OrganizationService, UserService, AuthService, DeviceService, OAuthService, ConfigService],
  migrations: [],
  async start({ server }) {
    for (const service of this.services) server.register(service, {});
    return { stop: async () => undefined };
  },
};
