import { AuthzAdminService } from "../../gen/rollcall/authz/v1/admin_pb.js";
import type { MeshClients } from "../runtime/mesh-clients.js";
import type { CallContext } from "../runtime/grpc/context.js";
import type { TokenIssuer } from "./tokens/token-issuer.js";
import type { Bus, Subscription } from "../runtime/bus/bus.js";
import type { Logger } from "../runtime/logger.js";
import { onPolicyChanged } from "../runtime/authz/policy-changed.js";

/** A backstop should a PolicyChanged message be lost (core pub/sub is at-most-once). */
const ROLES_TTL_MS = 1_000;

/**
 * Every call identity makes to authz, made as the identity service itself (a service token):
 * seeding a new organisation's roles, assigning roles, reading a user's roles for their token.
 * A user's role names are remembered until their organisation's policy changes, so a token
 * refresh costs no call to authz.
 */
export class AuthzLink {
  private readonly roles = new Map<string, Map<string, { names: string[]; at: number }>>();
  private readonly subscription: Subscription;

  constructor(private readonly clients: MeshClients, private readonly tokens: TokenIssuer, bus: Bus, logger: Logger) {
    this.subscription = onPolicyChanged(bus, logger, (organizationId) => this.roles.delete(organizationId));
  }

  stop(): void {
    this.subscription.unsubscribe();
  }

  private async options(parent?: CallContext) {
    return { bearer: await this.tokens.forService(), parent };
  }

  /** Seeds the organisation's system roles and, given `adminUserId`, makes that user ADMIN in the same transaction. */
  async seedOrganization(organizationId: string, adminUserId?: string, parent?: CallContext): Promise<void> {
    await this.clients.get(AuthzAdminService).seedOrganization({ organizationId, adminUserId }, await this.options(parent));
  }

  async assignRole(organizationId: string, userId: string, roleName: string, parent?: CallContext): Promise<void> {
    await this.clients.get(AuthzAdminService).assignRole({ organizationId, userId, roleName }, await this.options(parent));
  }

  async rolesOf(organizationId: string, userId: string, parent?: CallContext): Promise<string[]> {
    const cached = this.roles.get(organizationId)?.get(userId);
    if (cached && Date.now() - cached.at < ROLES_TTL_MS) return cached.names;
    const res = await this.clients.get(AuthzAdminService).listUserRoles({ userId, organizationId }, await this.options(parent));
    const names = res.userRoles.map((r) => r.role).filter(Boolean);
    let org = this.roles.get(organizationId);
    if (!org) this.roles.set(organizationId, (org = new Map()));
    if (org.size >= 10_000) org.clear(); // bounded; entries live a second anyway
    org.set(userId, { names, at: Date.now() });
    return names;
  }

  /** Ids of every member of the named role (for ListUsers' role filter). */
  async membersOf(organizationId: string, roleName: string, parent?: CallContext): Promise<string[]> {
    const admin = this.clients.get(AuthzAdminService);
    const roles = await admin.listRoles({ organizationId, page: { pageSize: 500 } }, await this.options(parent));
    const role = roles.roles.find((r) => r.name.toLowerCase() === roleName.toLowerCase());
    if (!role) return [];
    const members: string[] = [];
    let pageToken = "";
    do {
      const res = await admin.listRoleMembers({ roleId: role.id, page: { pageSize: 500, pageToken } }, await this.options(parent));
      members.push(...res.userRoles.map((m) => m.userId));
      pageToken = res.page?.nextPageToken ?? "";
    } while (pageToken);
    return members;
  }
}
