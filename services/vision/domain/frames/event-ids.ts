import { createHash } from "node:crypto";

/** Rollcall's namespace for name-based ids (a random UUID, fixed forever). */
const NAMESPACE = Buffer.from("6f1e3c2a9b8d4e7fa1c05d3b2e9f8a47", "hex");

/** RFC 4122 version 5 UUID: the same name always gives the same id. */
export function nameUuid(name: string): string {
  const hash = createHash("sha1").update(NAMESPACE).update(name).digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A face's event id is derived from where it was seen, so a redelivered frame yields the same
 * ids and everything downstream (JetStream dedup, attendance_logs.event_id) stays idempotent.
 */
export function recognitionEventId(deviceId: string, frameId: string, faceIndex: number): string {
  return nameUuid(`recognition/${deviceId}/${frameId}/${faceIndex}`);
}
