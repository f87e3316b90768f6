import { enableTenantIsolation, type Migration } from "../../runtime/db/index.js";

/**
 * Schema `attendance` (data-model.md), under tenant isolation. Each log also keeps the
 * organisation-local date it belongs to, fixed at ingest, so that a day is one index range.
 */
export const ATTENDANCE_MIGRATIONS: readonly Migration[] = [
  {
    name: "0001_logs_and_records",
    async up(ctx) {
      await ctx.sql(`
        CREATE TABLE attendance.attendance_records (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          user_id uuid NOT NULL,
          attendance_date date NOT NULL,
          first_in_time timestamptz,
          last_out_time timestamptz,
          total_minutes integer NOT NULL DEFAULT 0 CHECK (total_minutes >= 0),
          open_interval boolean NOT NULL DEFAULT false,
          source text NOT NULL CHECK (source IN ('CAMERA', 'MANUAL', 'API')),
          confidence numeric(5,2) NOT NULL CHECK (confidence BETWEEN 0 AND 100),
          corrected_by uuid,
          correction_reason text,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (organization_id, user_id, attendance_date)
        );
        CREATE INDEX attendance_records_date ON attendance.attendance_records (organization_id, attendance_date, user_id);

        CREATE TABLE attendance.attendance_logs (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          user_id uuid NOT NULL,
          event_id uuid NOT NULL UNIQUE,
          event_type text NOT NULL CHECK (event_type IN ('IN', 'OUT')),
          event_time timestamptz NOT NULL,
          attendance_date date NOT NULL,
          device_id uuid,
          confidence numeric(5,2) NOT NULL CHECK (confidence BETWEEN 0 AND 100),
          source text NOT NULL CHECK (source IN ('CAMERA', 'MANUAL', 'API')),
          actor_id uuid,
          reason text CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 500),
          attendance_id uuid REFERENCES attendance.attendance_records (id),
          created_at timestamptz NOT NULL DEFAULT now(),
          CHECK ((source = 'MANUAL') = (actor_id IS NOT NULL AND reason IS NOT NULL))
        );
        CREATE INDEX attendance_logs_day ON attendance.attendance_logs (organization_id, attendance_date, user_id, event_time);
        CREATE INDEX attendance_logs_open ON attendance.attendance_logs (organization_id, attendance_date) WHERE attendance_id IS NULL;
      `);
      await enableTenantIsolation(ctx, "attendance.attendance_records");
      await enableTenantIsolation(ctx, "attendance.attendance_logs");
    },
  },
];
