import type { AuditService, AuditLogFilter } from "../../../gen/rollcall/audit/v1/audit_pb.js";
import type { Authorizer } from "../../runtime/authz/authorizer.js";
import { callerOf, isPlatform, targetOrganization } from "../../runtime/authz/callers.js";
import { invalidArgument, permissionDenied } from "../../runtime/errors.js";
import type { CallContext } from "../../runtime/grpc/context.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import { text } from "../../runtime/validate.js";
import type { AuditLogQuery, AuditLogStore } from "../chain/audit-log-store.js";
import type { ChainVerifier } from "../chain/chain-verifier.js";
import { ACTOR_TYPES, auditLogOf, nameOf, OUTCOMES } from "./convert.js";
import { idCursor, positiveId, timeBounds } from "./request.js";

const EXPORT_BATCH = 500;
const EXPORT_MAX = 1_000_000;

export function auditLogHandlers(authz: Authorizer, store: AuditLogStore, verifier: ChainVerifier): Pick<ServiceImpl<typeof AuditService>, "listAuditLogs" | "exportAuditLogs" | "verifyChain"> {
  return {
    async listAuditLogs(req, ctx) {
      const query = await authorisedQuery(ctx, authz, "read", req.filter);
      const page = readPage(req.page);
      const before = page.after ? positiveId("page.page_token", page.after.id) : undefined;
      const rows = await store.newest(query, page.limit, before);
      const { items, nextPageToken } = pageOf(rows, page.limit, (row) => idCursor(row.id));
      return { logs: items.map(auditLogOf), page: { nextPageToken } };
    },

    async *exportAuditLogs(req, ctx) {
      const query = await authorisedQuery(ctx, authz, "export", req.filter);
      let after: string | undefined;
      let sent = 0;
      while (sent < EXPORT_MAX && !ctx.signal.aborted) {
        const rows = await store.oldest(query, Math.min(EXPORT_BATCH, EXPORT_MAX - sent), after);
        if (rows.length === 0) return;
        yield { logs: rows.map(auditLogOf) };
        sent += rows.length;
        after = rows[rows.length - 1]!.id;
        if (rows.length < EXPORT_BATCH) return;
      }
    },

    async verifyChain(req, ctx) {
      const org = req.platform ? platformChain(ctx, req.organizationId, "organization_id") : targetOrganization(ctx, req.organizationId);
      if (org !== null && (await authz.resolveScope(ctx, "audit_logs", "read")) !== "ALL") {
        throw permissionDenied("verifying the audit chain needs audit_logs:read for the whole organisation (scope ALL)");
      }
      const result = await verifier.verify(org, timeBounds("time_range", req.timeRange));
      return { ok: result.ok, rowsChecked: BigInt(result.rowsChecked), firstBrokenId: result.firstBrokenId, reason: result.reason };
    },
  };
}

/**
 * The caller's query: ALL sees the organisation's trail, OWN only entries about themselves
 * (done by them or about their user record); naming another actor then is PERMISSION_DENIED.
 */
async function authorisedQuery(ctx: CallContext, authz: Authorizer, action: "read" | "export", filter: AuditLogFilter | undefined): Promise<AuditLogQuery> {
  const organizationId = filter?.platform
    ? platformChain(ctx, filter.organizationId, "filter.organization_id")
    : targetOrganization(ctx, filter?.organizationId ?? "", "filter.organization_id");
  const query: AuditLogQuery = {
    organizationId,
    actorId: text("filter.actor_id", filter?.actorId ?? "", { max: 128 }) || undefined,
    actorType: enumName("filter.actor_type", ACTOR_TYPES, filter?.actorType ?? 0),
    action: text("filter.action", filter?.action ?? "", { max: 128 }) || undefined,
    entityType: text("filter.entity_type", filter?.entityType ?? "", { max: 64 }) || undefined,
    entityId: text("filter.entity_id", filter?.entityId ?? "", { max: 128 }) || undefined,
    outcome: enumName("filter.outcome", OUTCOMES, filter?.outcome ?? 0),
    time: timeBounds("filter.time_range", filter?.timeRange),
  };
  // Platform rows belong to no organisation's policy: platformChain let only platform callers through.
  if (organizationId === null) return query;
  const scope = await authz.resolveScope(ctx, "audit_logs", action);
  if (scope === "NONE") throw permissionDenied(`not allowed to ${action} audit_logs`);
  if (scope === "OWN") {
    const self = callerOf(ctx).subject;
    if (query.actorId && query.actorId !== self) throw permissionDenied("you may read only audit entries about yourself; filter.actor_id names someone else");
    query.aboutUser = self;
  }
  return query;
}

/** The platform-level chain (rows without an organisation): platform operators and services only. */
function platformChain(ctx: CallContext, organizationId: string, field: string): null {
  if (organizationId) throw invalidArgument(field, "must be empty when platform is set (platform rows belong to no organisation)");
  if (!isPlatform(callerOf(ctx))) throw permissionDenied("platform-level audit rows are for platform operators only");
  return null;
}

function enumName<E extends number>(field: string, map: Record<string, E>, value: E): string | undefined {
  if (value === 0) return undefined;
  const name = nameOf(map, value);
  if (!name) throw invalidArgument(field, `unknown value ${value}`);
  return name;
}
