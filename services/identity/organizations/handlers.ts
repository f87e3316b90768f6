import { OrganizationService } from "../../../gen/rollcall/identity/v1/organization_pb.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { invalidArgument, notFound } from "../../runtime/errors.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import { callerOf, isPlatform, targetOrganization } from "../../runtime/authz/callers.js";
import { requirePlatform } from "../caller-checks.js";
import { STATUS_FROM_PROTO, toOrganization } from "./convert.js";
import { Organizations, type Transition } from "./organizations.js";

export function organizationHandlers(id: Identity, organizations: Organizations): ServiceImpl<typeof OrganizationService> {
  const transition = (name: Transition) => async (req: { organizationId: string; reason?: string }, ctx: Parameters<NonNullable<ServiceImpl<typeof OrganizationService>["verifyOrganization"]>>[1]) => {
    const caller = callerOf(ctx);
    const orgId = name === "requestDeletion" ? targetOrganization(ctx, req.organizationId) : req.organizationId;
    if (name === "requestDeletion" && !isPlatform(caller)) await id.authz.authorize(ctx, "organizations", "delete");
    else if (name !== "requestDeletion") requirePlatform(ctx, `${name} organisations`);
    if (name === "suspend" && !req.reason?.trim()) throw invalidArgument("reason", "is required when suspending");
    const row = await organizations.transition(orgId, name, v.text("reason", req.reason ?? "", { max: 500 }), caller);
    return { organization: toOrganization(row) };
  };

  return {
    async createOrganization(req, ctx) {
      const caller = requirePlatform(ctx, "create organisations");
      // A user creating an organisation becomes its ADMIN in the seeding transaction: never an organisation without one.
      const admin = caller.kind === "user" ? caller.subject : undefined;
      const row = await organizations.create({ code: req.code, name: req.name, legalName: req.legalName, timezone: req.timezone, settings: req.settings }, "PENDING", caller, admin);
      return { organization: toOrganization(row) };
    },

    async getOrganization(req, ctx) {
      const caller = callerOf(ctx);
      const row = req.code && !req.organizationId ? await organizations.getByCode(req.code) : await organizations.get(targetOrganization(ctx, req.organizationId));
      // Another tenant's organisation is "not found", whether it exists or not.
      if (row.id !== caller.organizationId && !isPlatform(caller)) throw notFound("organisation", req.code || req.organizationId);
      return { organization: toOrganization(row) };
    },

    async listOrganizations(req, ctx) {
      requirePlatform(ctx, "list organisations");
      const page = readPage(req.page);
      const rows = await id.db.withSystem((tx) => id.organizations.list(tx, {
        status: STATUS_FROM_PROTO.get(req.status),
        query: v.text("query", req.query, { max: 200 }),
        after: page.after,
        limit: page.limit,
      }));
      const { items, nextPageToken } = pageOf(rows, page.limit, (r) => ({ key: r.cursor_key, id: r.id }));
      return { organizations: items.map(toOrganization), page: { nextPageToken } };
    },

    async updateOrganization(req, ctx) {
      const orgId = targetOrganization(ctx, req.organizationId);
      if (!isPlatform(callerOf(ctx))) await id.authz.authorize(ctx, "organizations", "update");
      const changes = {
        name: req.name === undefined ? undefined : v.text("name", req.name, { min: 1, max: 200 }),
        legal_name: req.legalName === undefined ? undefined : v.text("legal_name", req.legalName, { max: 300 }),
        timezone: req.timezone === undefined ? undefined : v.timezone("timezone", req.timezone),
        settings: req.settings,
      };
      const row = await id.db.withSystem((tx) => id.organizations.update(tx, orgId, changes));
      if (!row) throw notFound("organisation", orgId);
      await id.audit.publish({ organizationId: orgId, actor: callerOf(ctx), action: "organization.update", entityType: "organization", entityId: orgId, outcome: "SUCCESS", detail: { fields: Object.keys(changes).filter((k) => changes[k as keyof typeof changes] !== undefined) } });
      return { organization: toOrganization(row) };
    },

    verifyOrganization: transition("verify"),
    suspendOrganization: transition("suspend"),
    resumeOrganization: transition("resume"),
    requestOrganizationDeletion: transition("requestDeletion"),
  };
}
