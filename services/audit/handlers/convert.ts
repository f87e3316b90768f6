import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AuditLogSchema, EventSchema, HealthStatus, LogLevel, NotificationChannel, NotificationStatus, Outcome, Severity, type Event,
} from "../../../gen/rollcall/audit/v1/types_pb.js";
import { ActorType } from "../../../gen/rollcall/common/v1/common_pb.js";
import type { StoredRow } from "../chain/stored-row.js";
import type { EventRow } from "../events/event-store.js";

/** Database text values ↔ the contract's enums, in one place. */
export const ACTOR_TYPES: Record<string, ActorType> = { USER: ActorType.USER, DEVICE: ActorType.DEVICE, SERVICE: ActorType.SERVICE, SYSTEM: ActorType.SYSTEM };
export const OUTCOMES: Record<string, Outcome> = { SUCCESS: Outcome.SUCCESS, FAILURE: Outcome.FAILURE, DENIED: Outcome.DENIED };
export const SEVERITIES: Record<string, Severity> = { INFO: Severity.INFO, WARNING: Severity.WARNING, ERROR: Severity.ERROR, CRITICAL: Severity.CRITICAL };
export const LEVELS: Record<string, LogLevel> = { TRACE: LogLevel.TRACE, DEBUG: LogLevel.DEBUG, INFO: LogLevel.INFO, WARN: LogLevel.WARN, ERROR: LogLevel.ERROR, FATAL: LogLevel.FATAL };
export const HEALTH: Record<string, HealthStatus> = { UP: HealthStatus.UP, DEGRADED: HealthStatus.DEGRADED, DOWN: HealthStatus.DOWN };
export const CHANNELS: Record<string, NotificationChannel> = { DASHBOARD: NotificationChannel.DASHBOARD, EMAIL: NotificationChannel.EMAIL, WEBHOOK: NotificationChannel.WEBHOOK };
export const STATUSES: Record<string, NotificationStatus> = { PENDING: NotificationStatus.PENDING, SENT: NotificationStatus.SENT, FAILED: NotificationStatus.FAILED };

/** The text for an enum value, from one of the maps above. */
export function nameOf<E extends number>(map: Record<string, E>, value: E): string | undefined {
  return Object.keys(map).find((key) => map[key] === value);
}

const ts = (date: Date | null) => (date ? timestampFromDate(date) : undefined);

export function auditLogOf(row: StoredRow): MessageInitShape<typeof AuditLogSchema> {
  return {
    id: BigInt(row.id), eventId: row.event_id, organizationId: row.organization_id ?? "", actorType: ACTOR_TYPES[row.actor_type],
    actorId: row.actor_id, action: row.action, entityType: row.entity_type, entityId: row.entity_id, outcome: OUTCOMES[row.outcome],
    ipAddress: row.ip ?? "", userAgent: row.user_agent, detail: row.detail as never, prevHash: row.prev_hash, hash: row.hash,
    createdAt: ts(row.created_at),
  };
}

export function eventOf(row: EventRow): Event {
  return create(EventSchema, {
    id: row.id, organizationId: row.organization_id ?? "", type: row.event_type, severity: SEVERITIES[row.severity] ?? Severity.INFO,
    referenceId: row.reference_id, metadata: row.metadata as never, acknowledgedBy: row.acknowledged_by ?? "", acknowledgedAt: ts(row.acknowledged_at),
    resolvedBy: row.resolved_by ?? "", resolvedAt: ts(row.resolved_at), resolution: row.resolution, createdAt: ts(row.created_at),
  });
}
