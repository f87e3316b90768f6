import type { AuditService } from "../../../gen/rollcall/audit/v1/audit_pb.js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { callerOf, isPlatform } from "../../runtime/authz/callers.js";
import type { Database, Sql } from "../../runtime/db/index.js";
import { invalidArgument, permissionDenied } from "../../runtime/errors.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import { text } from "../../runtime/validate.js";
import type { JsonValue } from "../chain/canonical.js";
import { HEALTH, LEVELS, nameOf } from "./convert.js";
import { idCursor, positiveId, timeBounds, whereTime } from "./request.js";

const LEVEL_ORDER = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

interface LogRow { id: string; log_level: string; service_name: string; message: string; metadata: { [key: string]: JsonValue }; created_at: Date }
interface StatusRow { component: string; instance: string; status: string; cpu_usage: number; memory_usage: string; metadata: { [key: string]: JsonValue }; last_heartbeat: Date; overdue: boolean }

/** System logs and fleet health: platform-wide, so for platform operators and services only. */
export function monitoringHandlers(db: Database, sql: Sql, overdueMs: number): Pick<ServiceImpl<typeof AuditService>, "listSystemLogs" | "listHealth"> {
  return {
    async listSystemLogs(req, ctx) {
      platformOnly(ctx);
      const page = readPage(req.page);
      const bind: unknown[] = [];
      const where = ["true"];
      if (req.level !== 0) {
        const level = nameOf(LEVELS, req.level);
        if (!level) throw invalidArgument("level", `unknown value ${req.level}`);
        where.push(`log_level = ANY($${bind.push(LEVEL_ORDER.slice(LEVEL_ORDER.indexOf(level)))}::text[])`);
      }
      const service = text("service", req.service, { max: 64 });
      if (service) where.push(`service_name = $${bind.push(service)}`);
      const query = text("query", req.query, { max: 200 });
      if (query) where.push(`strpos(lower(message), lower($${bind.push(query)})) > 0`);
      whereTime("created_at", timeBounds("time_range", req.timeRange), where, bind);
      if (page.after) where.push(`id < $${bind.push(positiveId("page.page_token", page.after.id))}`);
      const rows = await db.withSystem((tx) =>
        sql.rows<LogRow>(tx, `SELECT id::text, log_level, service_name, message, metadata, created_at FROM audit.system_logs WHERE ${where.join(" AND ")} ORDER BY system_logs.id DESC LIMIT ${page.limit + 1}`, bind),
      );
      const { items, nextPageToken } = pageOf(rows, page.limit, (row) => idCursor(row.id));
      return {
        logs: items.map((r) => ({ id: BigInt(r.id), level: LEVELS[r.log_level], service: r.service_name, message: r.message, metadata: r.metadata as never, createdAt: timestampFromDate(r.created_at) })),
        page: { nextPageToken },
      };
    },

    async listHealth(req, ctx) {
      platformOnly(ctx);
      const component = text("component", req.component, { max: 128 });
      const rows = await db.withSystem((tx) =>
        sql.rows<StatusRow>(
          tx,
          `SELECT component, instance, status, cpu_usage, memory_usage::text, metadata, last_heartbeat,
                  last_heartbeat < now() - make_interval(secs => $1::float8 / 1000) AS overdue
           FROM audit.component_status WHERE last_heartbeat > now() - interval '24 hours' AND ($2 = '' OR component = $2)
           ORDER BY component, instance`,
          [overdueMs, component],
        ),
      );
      return {
        components: rows.map((r) => ({
          component: r.component, instance: r.instance,
          // Overdue is DOWN even before the detector has run.
          status: HEALTH[r.overdue ? "DOWN" : r.status], cpuUsage: r.cpu_usage, memoryUsage: BigInt(r.memory_usage),
          lastHeartbeat: timestampFromDate(r.last_heartbeat), metadata: r.metadata as never,
        })),
      };
    },
  };
}

function platformOnly(ctx: CallContext): void {
  if (!isPlatform(callerOf(ctx))) throw permissionDenied("system logs and health are for platform operators only");
}
