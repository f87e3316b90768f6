import { enableTenantIsolation, grantRuntimeAccess, SYSTEM_ROLE, TENANT_ROLE, type Migration } from "../runtime/db/index.js";

const RUNTIME_ROLES = `${TENANT_ROLE}, ${SYSTEM_ROLE}`;

/**
 * audit's schema. audit_logs is append-only for the runtime roles (no UPDATE, DELETE or
 * TRUNCATE): only the login that owns the schema (the maintenance path) may remove rows, and only
 * whole old partitions or an organisation's expired prefix, anchoring the chain first.
 * Partitions are monthly; the maintenance job creates them ahead of time, and the DEFAULT
 * partition only catches rows if that job has not run (it is never meant to fill).
 */
export const auditMigrations: Migration[] = [
  {
    name: "0001-audit-log",
    async up(ctx) {
      await ctx.sql(`
        CREATE SEQUENCE audit.audit_logs_id_seq AS bigint;
        CREATE TABLE audit.audit_logs (
          id bigint NOT NULL,
          event_id uuid NOT NULL,
          organization_id uuid,
          actor_type text NOT NULL,
          actor_id text NOT NULL DEFAULT '',
          action text NOT NULL,
          entity_type text NOT NULL DEFAULT '',
          entity_id text NOT NULL DEFAULT '',
          outcome text NOT NULL,
          ip_address inet,
          user_agent text NOT NULL DEFAULT '',
          detail jsonb NOT NULL DEFAULT '{}',
          service text NOT NULL DEFAULT '',
          occurred_at timestamptz NOT NULL,
          prev_hash text NOT NULL,
          hash text NOT NULL,
          created_at timestamptz NOT NULL
        ) PARTITION BY RANGE (created_at);
        CREATE INDEX audit_logs_org_id ON audit.audit_logs (organization_id, id);
        CREATE INDEX audit_logs_org_actor ON audit.audit_logs (organization_id, actor_id, id);
        CREATE INDEX audit_logs_org_entity ON audit.audit_logs (organization_id, entity_type, entity_id, id);
        CREATE TABLE audit.audit_logs_default PARTITION OF audit.audit_logs DEFAULT;

        -- Idempotency on event_id across partitions (a unique index on a partitioned table must
        -- include the partition key). Pruned after the AUDIT stream can no longer redeliver.
        CREATE TABLE audit.audit_event_ids (
          event_id uuid PRIMARY KEY,
          created_at timestamptz NOT NULL DEFAULT now()
        );

        -- One row per chain ("platform" or the organisation id): locked by every append, so
        -- appends to one chain are serialised across replicas; the tail also proves truncation.
        CREATE TABLE audit.chain_heads (
          chain text PRIMARY KEY,
          last_id bigint NOT NULL DEFAULT 0,
          last_hash text NOT NULL,
          last_created_at timestamptz NOT NULL DEFAULT 'epoch',
          row_count bigint NOT NULL DEFAULT 0
        );

        -- Where a chain now starts after retention removed its oldest rows.
        CREATE TABLE audit.chain_anchors (
          chain text NOT NULL,
          anchor_id bigint NOT NULL,
          anchor_hash text NOT NULL,
          rows_removed bigint NOT NULL,
          removed_before timestamptz NOT NULL,
          reason text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (chain, anchor_id)
        );

        CREATE TABLE audit.retention_policies (
          organization_id uuid PRIMARY KEY,
          retention_days integer NOT NULL CHECK (retention_days BETWEEN 1 AND 36500),
          updated_at timestamptz NOT NULL DEFAULT now()
        );`);
      await enableTenantIsolation(ctx, "audit.audit_logs");
      // Append-only: whatever the runtime roles were granted, they may not change or remove rows.
      await ctx.sql(`REVOKE UPDATE, DELETE, TRUNCATE ON audit.audit_logs FROM ${RUNTIME_ROLES}`);
      for (const table of ["audit_event_ids", "chain_heads", "chain_anchors", "retention_policies"]) {
        await grantRuntimeAccess(ctx, `audit.${table}`);
      }
      await ctx.sql(`REVOKE UPDATE, DELETE, TRUNCATE ON audit.chain_anchors FROM ${RUNTIME_ROLES}`);
    },
  },
  {
    name: "0002-monitoring-events-notifications",
    async up(ctx) {
      await ctx.sql(`
        CREATE TABLE audit.system_logs (
          id bigserial PRIMARY KEY,
          log_level text NOT NULL,
          service_name text NOT NULL,
          instance text NOT NULL DEFAULT '',
          message text NOT NULL,
          metadata jsonb NOT NULL DEFAULT '{}',
          created_at timestamptz NOT NULL
        );
        CREATE INDEX system_logs_created ON audit.system_logs (created_at, id);

        CREATE TABLE audit.system_health (
          id bigserial PRIMARY KEY,
          component text NOT NULL,
          instance text NOT NULL,
          status text NOT NULL CHECK (status IN ('UP', 'DEGRADED', 'DOWN')),
          cpu_usage double precision NOT NULL DEFAULT 0,
          memory_usage bigint NOT NULL DEFAULT 0,
          metadata jsonb NOT NULL DEFAULT '{}',
          recorded_at timestamptz NOT NULL
        );
        CREATE INDEX system_health_recorded ON audit.system_health (recorded_at);

        -- The latest heartbeat of each component instance (system_health keeps the history).
        CREATE TABLE audit.component_status (
          component text NOT NULL,
          instance text NOT NULL,
          status text NOT NULL CHECK (status IN ('UP', 'DEGRADED', 'DOWN')),
          cpu_usage double precision NOT NULL DEFAULT 0,
          memory_usage bigint NOT NULL DEFAULT 0,
          metadata jsonb NOT NULL DEFAULT '{}',
          last_heartbeat timestamptz NOT NULL,
          down_since timestamptz,
          PRIMARY KEY (component, instance)
        );

        CREATE TABLE audit.events (
          id uuid PRIMARY KEY,
          seq bigserial NOT NULL UNIQUE,
          organization_id uuid,
          event_type text NOT NULL,
          severity text NOT NULL,
          reference_id text NOT NULL DEFAULT '',
          metadata jsonb NOT NULL DEFAULT '{}',
          occurred_at timestamptz NOT NULL,
          acknowledged_by text,
          acknowledged_at timestamptz,
          resolved_by text,
          resolved_at timestamptz,
          resolution text NOT NULL DEFAULT '',
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX events_org_seq ON audit.events (organization_id, seq);

        CREATE TABLE audit.notification_rules (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          event_type text NOT NULL,
          channel text NOT NULL CHECK (channel IN ('DASHBOARD', 'EMAIL', 'WEBHOOK')),
          target text NOT NULL DEFAULT '',
          signing_secret text NOT NULL DEFAULT '',
          enabled boolean NOT NULL DEFAULT false,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notification_rules_org ON audit.notification_rules (organization_id, event_type);

        CREATE TABLE audit.notifications (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          event_id uuid NOT NULL REFERENCES audit.events (id) ON DELETE CASCADE,
          rule_id uuid,
          channel text NOT NULL,
          target text NOT NULL DEFAULT '',
          signing_secret text NOT NULL DEFAULT '',
          status text NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
          attempts integer NOT NULL DEFAULT 0,
          last_error text NOT NULL DEFAULT '',
          next_attempt_at timestamptz NOT NULL DEFAULT now(),
          locked_until timestamptz,
          sent_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX notifications_org ON audit.notifications (organization_id, created_at, id);
        CREATE INDEX notifications_due ON audit.notifications (next_attempt_at) WHERE status = 'PENDING';`);
      for (const table of ["events", "notification_rules", "notifications"]) await enableTenantIsolation(ctx, `audit.${table}`);
      for (const table of ["system_logs", "system_health", "component_status"]) await grantRuntimeAccess(ctx, `audit.${table}`);
    },
  },
];

/** The role of the retention job: the only one that may delete audit rows (an expired prefix of a chain). */
export const MAINTENANCE_ROLE = "rollcall_audit_maintenance";

auditMigrations.push({
  name: "0003-maintenance-role",
  async up(ctx) {
    await ctx.sql(`
      DO $$
      BEGIN
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${MAINTENANCE_ROLE}') THEN
          BEGIN
            CREATE ROLE ${MAINTENANCE_ROLE} NOLOGIN;
          EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
          END;
        END IF;
        IF NOT pg_has_role(current_user, '${MAINTENANCE_ROLE}', 'MEMBER') THEN
          EXECUTE format('GRANT ${MAINTENANCE_ROLE} TO %I', current_user);
        END IF;
      END $$;
      GRANT USAGE ON SCHEMA audit TO ${MAINTENANCE_ROLE};
      GRANT SELECT, DELETE ON audit.audit_logs TO ${MAINTENANCE_ROLE};
      GRANT SELECT, INSERT ON audit.chain_anchors, audit.chain_heads TO ${MAINTENANCE_ROLE};
      CREATE POLICY maintenance_access ON audit.audit_logs FOR ALL TO ${MAINTENANCE_ROLE}
        USING (current_user = '${MAINTENANCE_ROLE}');`);
  },
});

auditMigrations.push({
  name: "0004-event-retention-indexes",
  async up(ctx) {
    // The maintenance job removes events and notifications by age.
    await ctx.sql(`
      CREATE INDEX events_created ON audit.events (created_at);
      CREATE INDEX notifications_created ON audit.notifications (created_at) WHERE status <> 'PENDING';`);
  },
});

auditMigrations.push({
  name: "0005-event-id-lookup",
  async up(ctx) {
    // Idempotency now looks event ids up in audit_logs itself (recent partitions, under the chain
    // lock) instead of claiming each in audit_event_ids: two fewer writes per row. The old table
    // is no longer written (0006 drops it).
    // The lookup runs in a function that rules out sequential scans: a new month's partition has
    // no statistics yet, and a scan comparing every row with thousands of ids would stall ingest.
    await ctx.sql(`
      CREATE INDEX audit_logs_event_id ON audit.audit_logs (event_id);
      CREATE FUNCTION audit.stored_event_ids(ids uuid[], since timestamptz) RETURNS SETOF uuid
        LANGUAGE sql STABLE SET enable_seqscan = off
        AS 'SELECT event_id FROM audit.audit_logs WHERE event_id = ANY(ids) AND created_at >= since';`);
  },
});

auditMigrations.push({
  name: "0006-drop-audit-event-ids",
  async up(ctx) {
    // Unused since 0005 (idempotency looks event ids up in audit_logs); nothing reads it.
    await ctx.sql(`DROP TABLE audit.audit_event_ids;`);
  },
});
