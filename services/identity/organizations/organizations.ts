import { randomUUID } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import { failedPrecondition, notFound } from "../../runtime/errors.js";
import { revocationKeys } from "../../runtime/auth/revocation.js";
import type { AuditRecord } from "../../runtime/audit-publisher.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import type { OrganizationRow, OrganizationStatusName } from "./store.js";

export interface NewOrganization {
  code: string;
  name: string;
  legalName: string;
  timezone: string;
  settings: JsonObject | undefined;
}

/** The lifecycle: which transitions exist, from which states. Anything else is FAILED_PRECONDITION. */
export const TRANSITIONS = {
  verify: { from: ["PENDING"], to: "ACTIVE", verb: "verified" },
  suspend: { from: ["ACTIVE"], to: "SUSPENDED", verb: "suspended" },
  resume: { from: ["SUSPENDED"], to: "ACTIVE", verb: "resumed" },
  requestDeletion: { from: ["ACTIVE"], to: "PENDING_DEACTIVATION", verb: "scheduled for deletion" },
} as const satisfies Record<string, { from: readonly OrganizationStatusName[]; to: OrganizationStatusName; verb: string }>;

export type Transition = keyof typeof TRANSITIONS;

type Actor = AuditRecord["actor"];

/** Organisations: creation with authz seeding, the lifecycle, and what a status change implies. */
export class Organizations {
  constructor(private readonly id: Identity) {}

  validate(input: NewOrganization): NewOrganization {
    return {
      code: v.slug("code", input.code),
      name: v.text("name", input.name, { min: 1, max: 200 }),
      legalName: v.text("legal_name", input.legalName, { max: 300 }),
      timezone: v.timezone("timezone", input.timezone || "UTC"),
      settings: input.settings ?? {},
    };
  }

  /**
   * Creates the organisation, seeds its system roles in authz and makes `adminUserId` (the
   * creator) its ADMIN, in the seeding's transaction.
   */
  async create(input: NewOrganization, status: "PENDING" | "ACTIVE", actor: Actor, adminUserId?: string): Promise<OrganizationRow> {
    const org = this.validate(input);
    const row = await this.id.db.withSystem((tx) =>
      this.id.organizations.insert(tx, { id: randomUUID(), code: org.code, name: org.name, legal_name: org.legalName, status, timezone: org.timezone, settings: org.settings ?? {} }));
    await this.id.authzLink.seedOrganization(row.id, adminUserId);
    await this.id.audit.publish({ organizationId: row.id, actor, action: "organization.create", entityType: "organization", entityId: row.id, outcome: "SUCCESS", detail: { code: row.code, status } });
    return row;
  }

  async get(organizationId: string): Promise<OrganizationRow> {
    const row = await this.id.db.withSystem((tx) => this.id.organizations.byId(tx, v.uuid("organization_id", organizationId)));
    if (!row) throw notFound("organisation", organizationId);
    return row;
  }

  async getByCode(code: string): Promise<OrganizationRow> {
    const row = await this.id.db.withSystem((tx) => this.id.organizations.byCode(tx, code));
    if (!row) throw notFound("organisation", code);
    return row;
  }

  async transition(organizationId: string, transition: Transition, reason: string, actor: Actor): Promise<OrganizationRow> {
    const rule = TRANSITIONS[transition];
    const row = await this.id.db.withSystem(async (tx) => {
      const moved = await this.id.organizations.transition(tx, v.uuid("organization_id", organizationId), [...rule.from], rule.to, reason);
      if (moved) return moved;
      const current = await this.id.organizations.byId(tx, organizationId);
      if (!current) throw notFound("organisation", organizationId);
      throw failedPrecondition(`organisation ${current.code} is ${current.status}; only ${rule.from.join(" or ")} organisations can be ${rule.verb}`);
    });
    await this.applyBlock(row);
    await this.id.audit.publish({ organizationId: row.id, actor, action: `organization.${transition}`, entityType: "organization", entityId: row.id, outcome: "SUCCESS", detail: reason ? { reason } : {} });
    return row;
  }

  /** Suspended and deactivating organisations' tokens are refused by every service's interceptor. */
  async applyBlock(row: Pick<OrganizationRow, "id" | "status">): Promise<void> {
    const key = revocationKeys.organization(row.id);
    if (row.status === "SUSPENDED" || row.status === "PENDING_DEACTIVATION") await this.id.cache.set(key, row.status);
    else await this.id.cache.del(key);
  }

  /** Re-applies every block at start: the cache may have been emptied since. */
  async syncBlocks(): Promise<void> {
    const blocked = await this.id.db.withSystem((tx) => this.id.organizations.blocked(tx));
    for (const row of blocked) await this.applyBlock(row);
  }
}
