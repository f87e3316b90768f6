import * as crypto from "node:crypto";

/** The first row of a chain links to this. */
export const GENESIS_HASH = "0".repeat(64);

/** An audit row as hashed: every stored field except prev_hash and hash. */
export interface ChainRow {
  id: bigint;
  eventId: string;
  /** null for platform-level actions. */
  organizationId: string | null;
  actorType: string;
  actorId: string;
  action: string;
  entityType: string;
  entityId: string;
  outcome: string;
  /** Canonical text (canonicalIp) or null. */
  ip: string | null;
  userAgent: string;
  detail: JsonValue;
  service: string;
  occurredAt: Date;
  createdAt: Date;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** The chain of the platform-level rows (no organisation); an organisation's chain is its id. */
export const PLATFORM_CHAIN = "platform";

/** The chain a row belongs to: one per organisation, plus one for platform-level actions. */
export function chainOf(organizationId: string | null): string {
  return organizationId ?? PLATFORM_CHAIN;
}

/**
 * hash = SHA-256(prev_hash ‖ "\n" ‖ canonical JSON of the row). Canonical: a fixed-order array,
 * object keys sorted, times as ISO strings with milliseconds (what timestamptz gives back
 * exactly), the IP as canonicalIp. The same function runs when appending and when verifying, on
 * values as Postgres returns them, so nothing depends on how jsonb or inet re-serialise.
 */
export function rowHash(prevHash: string, row: ChainRow): string {
  return linkHash(prevHash, row.id, hashBody(row), row.createdAt);
}

/**
 * The part of a row's canonical JSON known before it joins the chain (all but id and created_at),
 * so the ingest path can build it outside the chain lock. `detailJson` is canonicalJson(row.detail)
 * when the caller has it already.
 */
export function hashBody(row: Omit<ChainRow, "id" | "createdAt">, detailJson = canonicalJson(row.detail)): string {
  // One JSON.stringify of the leading strings: the same text as quoting each and joining with commas.
  const leading = JSON.stringify([row.eventId, row.organizationId ?? "", row.actorType, row.actorId, row.action, row.entityType, row.entityId, row.outcome, row.ip ?? "", row.userAgent]);
  return `${leading.slice(1, -1)},${detailJson},${JSON.stringify(row.service)},"${row.occurredAt.toISOString()}",`;
}

/** SHA-256 over prev_hash, "\n" and the canonical JSON array [id, …body, created_at]. */
export function linkHash(prevHash: string, id: bigint, body: string, createdAt: Date): string {
  return sha256Hex(`${prevHash}\n["${id}",${body}"${createdAt.toISOString()}"]`);
}

/** One-shot crypto.hash (Node ≥ 20.12) costs half of a Hash object per row; older Node falls back to createHash. */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === "function" ? (text) => crypto.hash("sha256", text, "hex") : (text) => crypto.createHash("sha256").update(text).digest("hex");

export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key]!)}`).join(",")}}`;
}

/**
 * One spelling per address, so the text hashed on the way in equals the text hashed from inet on
 * the way out (Postgres abbreviates IPv6 its own way): IPv6 as the URL standard serialises it.
 */
export function canonicalIp(ip: string | null): string | null {
  if (ip === null || ip === "") return null;
  return ip.includes(":") ? new URL(`http://[${ip}]/`).hostname.slice(1, -1) : ip;
}
