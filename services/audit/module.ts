import { Counter } from "prom-client";
import { AuditService } from "../../gen/rollcall/audit/v1/audit_pb.js";
import { Signal } from "../runtime/bus/consumer-loop.js";
import { AuditPublisher } from "../runtime/audit-publisher.js";
import { Sql } from "../runtime/db/index.js";
import { createMailer } from "../runtime/mail/mailer.js";
import type { ServiceModule } from "../runtime/service-module.js";
import { AuditLogStore } from "./chain/audit-log-store.js";
import { ChainVerifier } from "./chain/chain-verifier.js";
import { ChainWriter } from "./chain/chain-writer.js";
import { loadAuditSettings, type AuditSettings } from "./config.js";
import { EventStore } from "./events/event-store.js";
import { consumeEvents } from "./events/events-consumer.js";
import { auditLogHandlers } from "./handlers/audit-logs.js";
import { eventHandlers } from "./handlers/events.js";
import { monitoringHandlers } from "./handlers/monitoring.js";
import { notificationHandlers } from "./handlers/notifications.js";
import { retentionHandlers } from "./handlers/retention.js";
import { consumeAuditEvents } from "./ingest/audit-consumer.js";
import { AuditMaintenance } from "./maintenance/maintenance.js";
import { auditMigrations } from "./migrations.js";
import { consumeHeartbeats, DownDetector } from "./monitoring/health.js";
import { consumeSystemLogs } from "./monitoring/system-logs.js";
import { NotificationDispatcher } from "./notifications/dispatcher.js";

/** Heartbeats missed before a component is DOWN. */
const MISSED_HEARTBEATS = 3;

/**
 * Audit: the hash-chained audit log (AUDIT stream), system logs (LOGS), fleet health (HEALTH),
 * platform events (EVENTS) and their notifications. `settings` overrides ROLLCALL_AUDIT_* (tests).
 */
export function makeAuditModule(overrides: Partial<AuditSettings> = {}): ServiceModule {
  return {
    name: "audit",
    services: [AuditService],
    migrations: auditMigrations,
    async start({ config, db, bus, logger, metrics, server, authz }) {
      const settings = { ...loadAuditSettings(), ...overrides };
      const sql = new Sql(db.sequelize);
      const maintenance = new AuditMaintenance(db.sequelize, logger, settings.maintenance);
      // Partitions must exist before the first row arrives.
      await maintenance.run();
      const maintenanceTimer = setInterval(() => void maintenance.run().catch((err) => logger.error({ err }, "audit maintenance failed; retrying next interval")), settings.maintenanceIntervalMs);

      const ingested = new Counter({ name: "audit_events_ingested_total", help: "Audit events from the bus, by result (stored, duplicate, rejected).", labelNames: ["result"], registers: [metrics.registry] });
      const stored = new Signal();
      const events = new EventStore(sql);
      const overdueMs = config.heartbeatIntervalMs * MISSED_HEARTBEATS;
      const mailer = createMailer(config.identity.smtpUrl, config.identity.mailFrom, logger);
      const dispatcher = new NotificationDispatcher({ db, sql, mailer, logger, wake: stored }, settings.notifications);
      const detector = new DownDetector({ db, sql, events, bus, logger, stored }, overdueMs);

      server.register(AuditService, {
        ...auditLogHandlers(authz, new AuditLogStore(db, sql), new ChainVerifier(db, sql)),
        ...monitoringHandlers(db, sql, overdueMs),
        ...eventHandlers(db, sql, authz, stored, settings.livePollMs),
        ...notificationHandlers(db, sql, authz),
        ...retentionHandlers(db, sql, authz, new AuditPublisher(bus, "audit", logger), settings.maintenance.defaultRetentionDays),
      });
      const consumers = [
        ...(await consumeAuditEvents(bus, new ChainWriter(db, sql), settings.ingest, logger, ingested)),
        await consumeEvents(bus, db, events, stored, logger),
        await consumeSystemLogs(bus, db, sql, logger),
        await consumeHeartbeats(bus, db, sql, logger),
      ];
      dispatcher.start();
      detector.start(config.heartbeatIntervalMs);
      return {
        async stop() {
          clearInterval(maintenanceTimer);
          await detector.stop();
          await dispatcher.stop();
          await Promise.all(consumers.map((consumer) => consumer.stop()));
          mailer.close();
        },
      };
    },
  };
}

export const auditModule: ServiceModule = makeAuditModule();
