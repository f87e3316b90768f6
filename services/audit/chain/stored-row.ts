import type { ChainRow, JsonValue } from "./canonical.js";
import { canonicalIp } from "./canonical.js";

/** An audit_logs row as selected by STORED_COLUMNS. */
export interface StoredRow {
  id: string;
  event_id: string;
  organization_id: string | null;
  actor_type: string;
  actor_id: string;
  action: string;
  entity_type: string;
  entity_id: string;
  outcome: string;
  ip: string | null;
  user_agent: string;
  detail: JsonValue;
  service: string;
  occurred_at: Date;
  prev_hash: string;
  hash: string;
  created_at: Date;
}

export const STORED_COLUMNS = `id::text AS id, event_id, organization_id, actor_type, actor_id, action, entity_type, entity_id,
  outcome, host(ip_address) AS ip, user_agent, detail, service, occurred_at, prev_hash, hash, created_at`;

export function chainRowOf(row: StoredRow): ChainRow {
  return {
    id: BigInt(row.id),
    eventId: row.event_id,
    organizationId: row.organization_id,
    actorType: row.actor_type,
    actorId: row.actor_id,
    action: row.action,
    entityType: row.entity_type,
    entityId: row.entity_id,
    outcome: row.outcome,
    ip: canonicalIp(row.ip),
    userAgent: row.user_agent,
    detail: row.detail,
    service: row.service,
    occurredAt: row.occurred_at,
    createdAt: row.created_at,
  };
}
