import { localIso } from "../domain/calendar.js";
import type { Person } from "../domain/directory.js";
import type { RecordRow } from "../storage/records-repo.js";

const MAX_CHUNK_BYTES = 64 * 1024;
const HEADER = ["attendance_date", "user_id", "employee_code", "full_name", "department", "first_in_time", "last_out_time", "total_minutes", "open_interval", "source", "confidence"];

/** RFC 4180: quote a field holding a comma, quote or line break; double the quotes inside. */
function field(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

function line(values: string[]): string {
  return `${values.map(field).join(",")}\r\n`;
}

/**
 * Day records as CSV chunks of whole rows, at most 64 KiB each, the header row first; times in
 * the organisation's zone (RFC 3339 with offset).
 */
export async function* csvRecords(pages: AsyncIterable<RecordRow[]>, people: Map<string, Person>, timeZone: string): AsyncGenerator<Uint8Array> {
  let pending = line(HEADER);
  for await (const rows of pages) {
    for (const r of rows) {
      const person = people.get(r.user_id);
      const row = line([
        r.attendance_date,
        r.user_id,
        person?.employeeCode ?? "",
        person?.fullName ?? "",
        person?.department ?? "",
        r.first_in_time ? localIso(new Date(r.first_in_time), timeZone) : "",
        r.last_out_time ? localIso(new Date(r.last_out_time), timeZone) : "",
        String(r.total_minutes),
        String(r.open_interval),
        r.source,
        Number(r.confidence).toFixed(2),
      ]);
      if (Buffer.byteLength(pending) + Buffer.byteLength(row) > MAX_CHUNK_BYTES) {
        yield Buffer.from(pending);
        pending = "";
      }
      pending += row;
    }
  }
  if (pending) yield Buffer.from(pending);
}
