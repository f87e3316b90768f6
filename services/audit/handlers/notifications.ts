import { randomBytes, randomUUID } from "node:crypto";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { AuditService } from "../../../gen/rollcall/audit/v1/audit_pb.js";
import { NotificationChannel } from "../../../gen/rollcall/audit/v1/types_pb.js";
import type { Authorizer } from "../../runtime/authz/authorizer.js";
import { targetOrganization } from "../../runtime/authz/callers.js";
import type { Database, Sql } from "../../runtime/db/index.js";
import { failedPrecondition, invalidArgument } from "../../runtime/errors.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import { email, uuid } from "../../runtime/validate.js";
import { CHANNELS, nameOf, STATUSES } from "./convert.js";

const MAX_RULES = 200;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]"]);

interface RuleRow { id: string; organization_id: string; event_type: string; channel: string; target: string; enabled: boolean }
interface NotificationRow { id: string; event_id: string; channel: string; target: string; status: string; attempts: number; last_error: string; sent_at: Date | null; created_at: Date }

export function notificationHandlers(db: Database, sql: Sql, authz: Authorizer): Pick<ServiceImpl<typeof AuditService>, "createNotificationRule" | "listNotificationRules" | "deleteNotificationRule" | "listNotifications"> {
  const ruleOf = (row: RuleRow, signingSecret = "") => ({
    id: row.id, organizationId: row.organization_id, eventType: row.event_type, channel: CHANNELS[row.channel], target: row.target, enabled: row.enabled, signingSecret,
  });
  return {
    async createNotificationRule(req, ctx) {
      const org = targetOrganization(ctx, req.organizationId);
      const eventType = req.eventType.trim();
      if (eventType !== "*" && !/^[A-Z][A-Z0-9_]{0,63}$/.test(eventType)) throw invalidArgument("event_type", `"${eventType.slice(0, 64)}" must be "*" or an UPPER_SNAKE event type of 1–64 characters`);
      const channel = req.channel === NotificationChannel.UNSPECIFIED ? undefined : nameOf(CHANNELS, req.channel);
      if (!channel) throw invalidArgument("channel", "must be DASHBOARD, EMAIL or WEBHOOK");
      const target = channel === "EMAIL" ? email("target", req.target) : channel === "WEBHOOK" ? webhookUrl(req.target) : "";
      await authz.authorize(ctx, "events", "create");
      const secret = channel === "WEBHOOK" ? randomBytes(32).toString("base64url") : "";
      const row = await db.withTenant(org, async (tx) => {
        await sql.execute(tx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`audit.rules.${org}`]);
        const [{ n }] = (await sql.rows<{ n: number }>(tx, `SELECT count(*)::int AS n FROM audit.notification_rules WHERE organization_id = $1`, [org])) as [{ n: number }];
        if (n >= MAX_RULES) throw failedPrecondition(`an organisation may have at most ${MAX_RULES} notification rules; delete one first`);
        return sql.row<RuleRow>(
          tx,
          `INSERT INTO audit.notification_rules (id, organization_id, event_type, channel, target, signing_secret, enabled)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id, organization_id, event_type, channel, target, enabled`,
          [randomUUID(), org, eventType, channel, target, secret, req.enabled],
        );
      });
      return { rule: ruleOf(row!, secret) };
    },

    async listNotificationRules(req, ctx) {
      const org = targetOrganization(ctx, req.organizationId);
      await authz.authorize(ctx, "events", "read");
      const rows = await db.withTenant(org, (tx) =>
        sql.rows<RuleRow>(tx, `SELECT id, organization_id, event_type, channel, target, enabled FROM audit.notification_rules WHERE organization_id = $1 ORDER BY event_type, created_at, id`, [org]),
      );
      return { rules: rows.map((row) => ruleOf(row)) };
    },

    async deleteNotificationRule(req, ctx) {
      const id = uuid("rule_id", req.ruleId);
      const org = targetOrganization(ctx, "");
      await authz.authorize(ctx, "events", "delete");
      await db.withTenant(org, (tx) => sql.execute(tx, `DELETE FROM audit.notification_rules WHERE id = $1`, [id]));
      return {};
    },

    async listNotifications(req, ctx) {
      const org = targetOrganization(ctx, req.organizationId);
      await authz.authorize(ctx, "events", "read");
      const page = readPage(req.page);
      const bind: unknown[] = [org];
      const where = ["organization_id = $1"];
      if (req.status !== 0) {
        const status = nameOf(STATUSES, req.status);
        if (!status) throw invalidArgument("status", `unknown value ${req.status}`);
        where.push(`status = $${bind.push(status)}`);
      }
      if (req.eventId) where.push(`event_id = $${bind.push(uuid("event_id", req.eventId))}`);
      if (page.after) {
        const at = new Date(page.after.key);
        if (Number.isNaN(at.getTime()) || !/^[0-9a-f-]{36}$/.test(page.after.id)) throw invalidArgument("page.page_token", "is not a token this service issued");
        where.push(`(created_at, id) < ($${bind.push(at.toISOString())}, $${bind.push(page.after.id)})`);
      }
      const rows = await db.withTenant(org, (tx) =>
        sql.rows<NotificationRow>(tx, `SELECT id, event_id, channel, target, status, attempts, last_error, sent_at, created_at FROM audit.notifications WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT ${page.limit + 1}`, bind),
      );
      const { items, nextPageToken } = pageOf(rows, page.limit, (row) => ({ key: row.created_at.toISOString(), id: row.id }));
      return {
        notifications: items.map((r) => ({
          id: r.id, eventId: r.event_id, channel: CHANNELS[r.channel], target: r.target, status: STATUSES[r.status], attempts: r.attempts,
          lastError: r.last_error, sentAt: r.sent_at ? timestampFromDate(r.sent_at) : undefined, createdAt: timestampFromDate(r.created_at),
        })),
        page: { nextPageToken },
      };
    },
  };
}

/** https, or http to this machine (development, tests). */
function webhookUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    throw invalidArgument("target", "must be an https URL");
  }
  if (value.length > 2048) throw invalidArgument("target", "must be at most 2048 characters");
  if (url.protocol !== "https:" && !(url.protocol === "http:" && LOOPBACK.has(url.hostname))) {
    throw invalidArgument("target", "must be an https URL (http is accepted for loopback addresses only)");
  }
  return url.href;
}
