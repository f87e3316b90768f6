import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AuditService } from "../../../gen/rollcall/audit/v1/audit_pb.js";
import { authorizeAll, type Authorizer } from "../../runtime/authz/authorizer.js";
import type { AuditPublisher } from "../../runtime/audit-publisher.js";
import { callerOf, targetOrganization } from "../../runtime/authz/callers.js";
import type { Database, Sql } from "../../runtime/db/index.js";
import { invalidArgument } from "../../runtime/errors.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";

/** Bounds of retention_days, as the retention_policies CHECK constraint has them. */
export const RETENTION_DAYS = { min: 1, max: 36_500 };

interface PolicyRow { retention_days: number; updated_at: Date }

/**
 * Per-organisation audit-log retention (audit.retention_policies), which the maintenance job
 * applies. Reading needs audit_logs:read and changing audit_logs:update, both with scope ALL
 * (ADMIN, or a platform operator).
 */
export function retentionHandlers(db: Database, sql: Sql, authz: Authorizer, audit: AuditPublisher, defaultDays: number): Pick<ServiceImpl<typeof AuditService>, "getRetentionPolicy" | "setRetentionPolicy"> {
  const policyOf = (org: string, row: PolicyRow | undefined) => ({
    organizationId: org,
    retentionDays: row?.retention_days ?? defaultDays,
    isDefault: !row,
    updatedAt: row ? timestampFromDate(row.updated_at) : undefined,
  });
  return {
    async getRetentionPolicy(req, ctx) {
      const org = targetOrganization(ctx, req.organizationId);
      await authorizeAll(authz, ctx, "audit_logs", "read");
      const row = await db.withTenant(org, (tx) => sql.row<PolicyRow>(tx, `SELECT retention_days, updated_at FROM audit.retention_policies WHERE organization_id = $1`, [org]));
      return { policy: policyOf(org, row) };
    },

    async setRetentionPolicy(req, ctx) {
      const org = targetOrganization(ctx, req.organizationId);
      if (req.useDefault && req.retentionDays !== 0) throw invalidArgument("retention_days", "must be 0 (unset) when use_default is set");
      if (!req.useDefault && (req.retentionDays < RETENTION_DAYS.min || req.retentionDays > RETENTION_DAYS.max)) {
        throw invalidArgument("retention_days", `must be ${RETENTION_DAYS.min}–${RETENTION_DAYS.max} days (got ${req.retentionDays}); set use_default for the platform default`);
      }
      await authorizeAll(authz, ctx, "audit_logs", "update");
      const row = await db.withTenant(org, async (tx) => {
        if (req.useDefault) {
          await sql.execute(tx, `DELETE FROM audit.retention_policies WHERE organization_id = $1`, [org]);
          return undefined;
        }
        return sql.row<PolicyRow>(
          tx,
          `INSERT INTO audit.retention_policies (organization_id, retention_days) VALUES ($1, $2)
           ON CONFLICT (organization_id) DO UPDATE SET retention_days = EXCLUDED.retention_days, updated_at = now()
           RETURNING retention_days, updated_at`,
          [org, req.retentionDays],
        );
      });
      const policy = policyOf(org, row);
      await audit.publish({
        organizationId: org, actor: callerOf(ctx), action: "audit.retention.set", entityType: "organization", entityId: org, outcome: "SUCCESS", ...ctx.client,
        detail: { retentionDays: policy.retentionDays, isDefault: policy.isDefault },
      });
      return { policy };
    },
  };
}
