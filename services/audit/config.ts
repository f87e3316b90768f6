import { EnvReader } from "../runtime/config.js";
import type { IngestSettings } from "./ingest/audit-consumer.js";
import type { MaintenanceSettings } from "./maintenance/maintenance.js";
import type { DispatchSettings } from "./notifications/dispatcher.js";

/** The audit service's own settings (ROLLCALL_AUDIT_*), validated as a whole at start. */
export interface AuditSettings {
  ingest: IngestSettings;
  maintenance: MaintenanceSettings;
  maintenanceIntervalMs: number;
  notifications: DispatchSettings;
  /** How often live subscriptions look for new events when nothing wakes them (other replicas' events). */
  livePollMs: number;
}

type Env = Record<string, string | undefined>;

export function loadAuditSettings(env: Env = process.env): AuditSettings {
  const read = new EnvReader(env);
  const int = (name: string, fallback: number, min: number, max: number) => read.integer(name, fallback, min, max);
  const settings: AuditSettings = {
    ingest: { batchSize: int("ROLLCALL_AUDIT_BATCH_SIZE", 2_000, 1, 20_000), parallel: int("ROLLCALL_AUDIT_INGEST_PARALLEL", 3, 1, 16) },
    maintenance: {
      monthsAhead: int("ROLLCALL_AUDIT_PARTITIONS_AHEAD", 3, 1, 24),
      defaultRetentionDays: int("ROLLCALL_AUDIT_RETENTION_DAYS", 400, 1, 36_500),
      housekeepingDays: int("ROLLCALL_AUDIT_HOUSEKEEPING_DAYS", 30, 8, 3_650),
      eventsRetentionDays: int("ROLLCALL_AUDIT_EVENTS_RETENTION_DAYS", 90, 8, 36_500),
      notificationsRetentionDays: int("ROLLCALL_AUDIT_NOTIFICATIONS_RETENTION_DAYS", 30, 1, 36_500),
    },
    maintenanceIntervalMs: int("ROLLCALL_AUDIT_MAINTENANCE_INTERVAL_SEC", 3_600, 10, 7 * 86_400) * 1000,
    notifications: {
      retryBaseMs: int("ROLLCALL_AUDIT_RETRY_BASE_MS", 5_000, 10, 3_600_000),
      maxAttempts: int("ROLLCALL_AUDIT_MAX_ATTEMPTS", 6, 1, 50),
      leaseMs: int("ROLLCALL_AUDIT_DELIVERY_LEASE_MS", 60_000, 1_000, 3_600_000),
      pollMs: int("ROLLCALL_AUDIT_DISPATCH_POLL_MS", 1_000, 10, 600_000),
      timeoutMs: int("ROLLCALL_AUDIT_WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
    },
    livePollMs: int("ROLLCALL_AUDIT_LIVE_POLL_MS", 1_000, 10, 60_000),
  };
  read.check();
  return settings;
}
