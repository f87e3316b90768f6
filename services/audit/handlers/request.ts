import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { invalidArgument } from "../../runtime/errors.js";
import type { TimeBounds } from "../chain/chain-verifier.js";

/** A TimeRange as bounds; end must be after start. */
export function timeBounds(field: string, range: { startTime?: Timestamp; endTime?: Timestamp } | undefined): TimeBounds {
  const start = range?.startTime ? timestampDate(range.startTime) : undefined;
  const end = range?.endTime ? timestampDate(range.endTime) : undefined;
  if (start && end && end <= start) throw invalidArgument(`${field}.end_time`, "must be after start_time");
  return { start, end };
}

/** Appends `column op $n` for each bound. */
export function whereTime(column: string, bounds: TimeBounds, where: string[], bind: unknown[]): void {
  if (bounds.start) where.push(`${column} >= $${bind.push(bounds.start.toISOString())}`);
  if (bounds.end) where.push(`${column} < $${bind.push(bounds.end.toISOString())}`);
}

/** Keyset cursor on a numeric id, as pagination.ts encodes it. */
export function idCursor(id: string) {
  return { key: id, id };
}

export function positiveId(field: string, value: string): string {
  if (!/^\d{1,19}$/.test(value)) throw invalidArgument(field, "is not a token this service issued");
  return value;
}
