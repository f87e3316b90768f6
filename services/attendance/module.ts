import { Counter } from "prom-client";
import { AttendanceService } from "../../gen/rollcall/attendance/v1/attendance_pb.js";
import { AuditPublisher } from "../runtime/audit-publisher.js";
import { followOrganizationDeletions } from "../runtime/organization-deletions.js";
import { ServiceTokens } from "../runtime/service-tokens.js";
import type { ServiceModule } from "../runtime/service-module.js";
import { loadAttendanceConfig } from "./config.js";
import { DayCloser } from "./domain/closer.js";
import { Days } from "./domain/days.js";
import { IdentityDirectory } from "./domain/directory.js";
import { TodayStore } from "./domain/today-store.js";
import { manualHandlers } from "./handlers/manual.js";
import { consumeRecognitions } from "./handlers/recognitions-consumer.js";
import { recordHandlers } from "./handlers/records.js";
import { todayHandlers } from "./handlers/today.js";
import { ATTENDANCE_MIGRATIONS } from "./storage/migrations.js";

/**
 * Attendance: recognitions from the bus → IN/OUT events (attendance_logs) → today's state in the
 * cache → daily records at the organisation's local midnight; queries, manual entries and CSV
 * export over gRPC.
 */
export const attendanceModule: ServiceModule = {
  name: "attendance",
  services: [AttendanceService],
  migrations: ATTENDANCE_MIGRATIONS,
  async start({ config, db, cache, bus, logger, metrics, server, authz, clients }) {
    const settings = loadAttendanceConfig();
    const directory = new IdentityDirectory(clients, new ServiceTokens(clients, "attendance", config.serviceSecret), settings, logger);
    const days = new Days(db, directory, new TodayStore(cache, logger));
    const recognitions = new Counter({
      name: "attendance_recognitions_total",
      help: "Recognition events consumed by attendance, by outcome (accepted, duplicate, debounced, low_confidence, unknown_face, …).",
      labelNames: ["outcome"],
      registers: [metrics.registry],
    });
    const closedDays = new Counter({ name: "attendance_days_closed_total", help: "Day records written by the closer.", registers: [metrics.registry] });
    const closer = new DayCloser(db, days, logger, settings.closeIntervalMs, (n) => closedDays.inc(n));
    const audit = new AuditPublisher(bus, "attendance", logger);
    server.register(AttendanceService, {
      ...todayHandlers(days, authz),
      ...recordHandlers(days, authz),
      ...manualHandlers(days, closer, authz, audit),
    });
    const consumer = await consumeRecognitions(bus, days, logger, { batchSize: settings.ingestBatch, onOutcome: (outcome, n) => recognitions.inc({ outcome }, n) });
    closer.start();
    const deletions = await followOrganizationDeletions(bus, "attendance", logger, async (org) => {
      await days.deleteOrganization(org);
    });
    return {
      async stop() {
        await deletions.stop();
        await consumer.stop();
        await closer.stop();
      },
    };
  },
};
