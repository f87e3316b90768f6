import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { EventType, Source, type AttendanceLogSchema, type AttendanceRecordSchema } from "../../../gen/rollcall/attendance/v1/attendance_pb.js";
import type { DayEvent } from "../domain/day.js";
import type { RecordRow } from "../storage/records-repo.js";

export const EVENT_TYPES = { IN: EventType.IN, OUT: EventType.OUT } as const;
export const SOURCES = { CAMERA: Source.CAMERA, MANUAL: Source.MANUAL, API: Source.API } as const;

const ts = (d: Date | null | undefined) => (d ? timestampFromDate(new Date(d)) : undefined);

export function toLog(organizationId: string, userId: string, e: DayEvent): MessageInitShape<typeof AttendanceLogSchema> {
  return {
    id: e.id,
    organizationId,
    userId,
    eventId: e.eventId,
    eventType: EVENT_TYPES[e.type],
    eventTime: ts(e.time),
    deviceId: e.deviceId ?? "",
    confidence: e.confidence,
    source: SOURCES[e.source],
    actorId: e.actorId ?? "",
    reason: e.reason ?? "",
    attendanceId: e.attendanceId ?? "",
    createdAt: ts(e.createdAt),
  };
}

export function toRecord(row: RecordRow): MessageInitShape<typeof AttendanceRecordSchema> {
  return {
    id: row.id,
    organizationId: row.organization_id,
    userId: row.user_id,
    attendanceDate: row.attendance_date,
    firstInTime: ts(row.first_in_time),
    lastOutTime: ts(row.last_out_time),
    totalMinutes: row.total_minutes,
    openInterval: row.open_interval,
    source: SOURCES[row.source],
    confidence: Number(row.confidence),
    createdAt: ts(row.created_at),
    updatedAt: ts(row.updated_at),
  };
}
