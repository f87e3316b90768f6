import { status } from "@grpc/grpc-js";
import type { AuditService } from "../../../gen/rollcall/audit/v1/audit_pb.js";
import type { Authorizer } from "../../runtime/authz/authorizer.js";
import { callerOf, targetOrganization } from "../../runtime/authz/callers.js";
import type { Signal } from "../../runtime/bus/consumer-loop.js";
import { STREAMS } from "../../runtime/bus/streams.js";
import type { Database, Sql } from "../../runtime/db/index.js";
import { AppError, invalidArgument, notFound } from "../../runtime/errors.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import { text, uuid } from "../../runtime/validate.js";
import { EVENT_COLUMNS, SEVERITIES as SEVERITY_ORDER, type EventRow } from "../events/event-store.js";
import { eventOf, nameOf, SEVERITIES } from "./convert.js";
import { idCursor, positiveId, timeBounds, whereTime } from "./request.js";

const TYPE = /^[A-Z][A-Z0-9_]{0,63}$/;

export function eventHandlers(db: Database, sql: Sql, authz: Authorizer, stored: Signal, livePollMs: number): Pick<ServiceImpl<typeof AuditService>, "listEvents" | "acknowledgeEvent" | "resolveEvent" | "subscribeNotifications"> {
  const update = async (ctx: CallContext, eventId: string, set: string, extra: unknown[]) => {
    const id = uuid("event_id", eventId);
    const org = targetOrganization(ctx, "");
    await authz.authorize(ctx, "events", "update");
    const row = await db.withTenant(org, (tx) =>
      sql.row<EventRow>(tx, `UPDATE audit.events SET ${set} WHERE id = $1 RETURNING ${EVENT_COLUMNS}`, [id, callerOf(ctx).subject, ...extra]),
    );
    if (!row) throw notFound("event", id);
    return { event: eventOf(row) };
  };

  return {
    async listEvents(req, ctx) {
      const org = targetOrganization(ctx, req.organizationId);
      await authz.authorize(ctx, "events", "read");
      const page = readPage(req.page);
      const bind: unknown[] = [org];
      const where = ["organization_id = $1"];
      if (req.type) where.push(`event_type = $${bind.push(eventType("type", req.type))}`);
      if (req.acknowledged !== undefined) where.push(req.acknowledged ? "acknowledged_at IS NOT NULL" : "acknowledged_at IS NULL");
      severityFilter("min_severity", req.minSeverity, where, bind);
      whereTime("created_at", timeBounds("time_range", req.timeRange), where, bind);
      if (page.after) where.push(`seq < $${bind.push(positiveId("page.page_token", page.after.id))}`);
      const rows = await db.withTenant(org, (tx) => sql.rows<EventRow>(tx, `SELECT ${EVENT_COLUMNS} FROM audit.events WHERE ${where.join(" AND ")} ORDER BY events.seq DESC LIMIT ${page.limit + 1}`, bind));
      const { items, nextPageToken } = pageOf(rows, page.limit, (row) => idCursor(row.seq));
      return { events: items.map(eventOf), page: { nextPageToken } };
    },

    acknowledgeEvent: (req, ctx) =>
      update(ctx, req.eventId, `acknowledged_by = COALESCE(acknowledged_by, $2), acknowledged_at = COALESCE(acknowledged_at, now())`, []),

    resolveEvent: (req, ctx) =>
      update(
        ctx,
        req.eventId,
        `acknowledged_by = COALESCE(acknowledged_by, $2), acknowledged_at = COALESCE(acknowledged_at, now()),
         resolved_by = COALESCE(resolved_by, $2), resolved_at = COALESCE(resolved_at, now()), resolution = $3`,
        [text("resolution", req.resolution, { max: 1000 })],
      ),

    async *subscribeNotifications(req, ctx) {
      const org = targetOrganization(ctx, req.organizationId);
      if (req.types.length > 50) throw invalidArgument("types", `at most 50 entries (got ${req.types.length})`);
      const types = req.types.map((t, i) => eventType(`types[${i}]`, t));
      const bind: unknown[] = [org];
      const where = ["organization_id = $1"];
      if (types.length > 0) where.push(`event_type = ANY($${bind.push(types)}::text[])`);
      severityFilter("min_severity", req.minSeverity, where, bind);
      await authz.authorize(ctx, "events", "read");
      let after = req.cursor ? readCursor(req.cursor) : await latestSeq(db, sql, org);
      const stop = abortPromise(ctx.signal);
      while (!ctx.signal.aborted) {
        const rows = await db.withTenant(org, (tx) =>
          sql.rows<EventRow>(tx, `SELECT ${EVENT_COLUMNS} FROM audit.events WHERE ${where.join(" AND ")} AND seq > $${bind.length + 1} ORDER BY events.seq LIMIT 100`, [...bind, after]),
        );
        for (const row of rows) {
          after = row.seq;
          yield { event: eventOf(row), cursor: cursorOf(row) };
        }
        if (rows.length === 0) await Promise.race([stored.wait(livePollMs), stop]);
      }
    },
  };
}

function eventType(field: string, value: string): string {
  if (!TYPE.test(value)) throw invalidArgument(field, `"${value.slice(0, 64)}" must be an UPPER_SNAKE event type of 1–64 characters`);
  return value;
}

function severityFilter(field: string, value: number, where: string[], bind: unknown[]): void {
  if (value === 0) return;
  const name = nameOf(SEVERITIES, value);
  if (!name) throw invalidArgument(field, `unknown value ${value}`);
  where.push(`severity = ANY($${bind.push(SEVERITY_ORDER.slice(SEVERITY_ORDER.indexOf(name as never)))}::text[])`);
}

/** Cursor: the event's seq and creation time (to tell an expired cursor from a future one). */
function cursorOf(row: EventRow): string {
  return Buffer.from(JSON.stringify({ s: row.seq, t: row.created_at.getTime() })).toString("base64url");
}

function readCursor(cursor: string): string {
  let parsed: { s?: unknown; t?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as typeof parsed;
  } catch {
    parsed = {};
  }
  if (typeof parsed.s !== "string" || !/^\d{1,19}$/.test(parsed.s) || typeof parsed.t !== "number") {
    throw invalidArgument("cursor", "is not a cursor this service issued; pass one from a previous SubscribeNotificationsResponse");
  }
  if (parsed.t < Date.now() - (STREAMS.events.maxAgeMs ?? Infinity)) {
    throw new AppError(status.OUT_OF_RANGE, "cursor: is older than the events retention; subscribe without a cursor and list missed events with ListEvents", { field: "cursor" });
  }
  return parsed.s;
}

async function latestSeq(db: Database, sql: Sql, org: string): Promise<string> {
  const row = await db.withTenant(org, (tx) => sql.row<{ seq: string }>(tx, `SELECT COALESCE(max(seq), 0)::text AS seq FROM audit.events WHERE organization_id = $1`, [org]));
  return row!.seq;
}

function abortPromise(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener("abort", () => resolve(), { once: true }));
}
