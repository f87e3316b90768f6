import type { Sequelize, Transaction } from "sequelize";
import { parseQualifiedName } from "./identifiers.js";

/**
 * Row-level security for tenant tables.
 *
 * Two NOLOGIN roles carry the table grants. Every tenant transaction switches to `rollcall_tenant`
 * with `SET LOCAL ROLE` and puts the organisation in the transaction-local setting `app.org`; the
 * `tenant_isolation` policy then filters every read and checks every write. Cross-tenant jobs use
 * `rollcall_system`, whose policy allows everything. The login role itself gets no policy, so once
 * services log in as a non-superuser, code that bypasses the helpers sees no rows at all.
 * Superusers bypass RLS entirely — and PGlite always connects as the superuser `postgres` — which
 * is why the role switch, not the login, is what enforces isolation.
 */
export const TENANT_ROLE = "rollcall_tenant";
export const SYSTEM_ROLE = "rollcall_system";
export const ORG_SETTING = "app.org";

const RUNTIME_ROLES = `${TENANT_ROLE}, ${SYSTEM_ROLE}`;

/** Whatever can run SQL in a migration: the migration context, or a Sequelize plus transaction. */
export interface SqlContext {
  sequelize: Sequelize;
  transaction: Transaction | null;
}

/**
 * Creates both runtime roles and makes the current login a member (needed for `SET ROLE` when the
 * login is not a superuser). Roles are cluster-wide, so services and test runs on other databases
 * may race us: a concurrent creator shows up as duplicate_object or unique_violation.
 */
export async function ensureRuntimeRoles(sequelize: Sequelize): Promise<void> {
  try {
    await sequelize.query(`
      DO $$
      DECLARE r text;
      BEGIN
        FOREACH r IN ARRAY ARRAY['${TENANT_ROLE}', '${SYSTEM_ROLE}'] LOOP
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
              EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
          END IF;
          IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
            BEGIN
              EXECUTE format('GRANT %I TO %I', r, current_user);
            EXCEPTION WHEN unique_violation THEN NULL;
            END;
          END IF;
        END LOOP;
      END $$`);
  } catch (err) {
    throw new Error(
      `could not set up the database roles ${RUNTIME_ROLES}: ${(err as Error).message}. ` +
        `If the service login may not create roles, have an administrator run once: ` +
        `CREATE ROLE ${TENANT_ROLE} NOLOGIN; CREATE ROLE ${SYSTEM_ROLE} NOLOGIN; ` +
        `GRANT ${RUNTIME_ROLES} TO <service login>;`,
      { cause: err },
    );
  }
}

export interface TenantIsolationOptions {
  /**
   * Rows whose organization_id is NULL (built-ins shared by every tenant, e.g. authz resources)
   * become readable by every tenant; tenants still can neither write nor delete them.
   */
  readableGlobalRows?: boolean;
}

/**
 * Puts a table (`"schema.table"`, with an `organization_id uuid` column) under tenant isolation.
 * Call it from the migration that creates the table. Idempotent.
 */
export async function enableTenantIsolation(
  ctx: SqlContext,
  table: string,
  options: TenantIsolationOptions = {},
): Promise<void> {
  const t = parseQualifiedName(table);
  // NULLIF: once a transaction has set app.org locally, the session value falls back to '' rather
  // than NULL, and ''::uuid would turn "no tenant" into a cast error instead of "no rows".
  const ownOrg = `organization_id = NULLIF(current_setting('${ORG_SETTING}', true), '')::uuid`;
  // Policies also apply to members of the roles they name, and the login is a member of both (so
  // that it may SET ROLE): without the current_user test the login itself would inherit
  // system_access and see every row outside the helpers.
  const asTenant = `current_user = '${TENANT_ROLE}'`;
  const asSystem = `current_user = '${SYSTEM_ROLE}'`;
  const statements = [
    `ALTER TABLE ${t.sql} ENABLE ROW LEVEL SECURITY`,
    `ALTER TABLE ${t.sql} FORCE ROW LEVEL SECURITY`,
    `DROP POLICY IF EXISTS tenant_isolation ON ${t.sql}`,
    `CREATE POLICY tenant_isolation ON ${t.sql} FOR ALL TO ${TENANT_ROLE}
       USING (${asTenant} AND ${ownOrg}) WITH CHECK (${asTenant} AND ${ownOrg})`,
    `DROP POLICY IF EXISTS tenant_read_global ON ${t.sql}`,
    ...(options.readableGlobalRows
      ? [`CREATE POLICY tenant_read_global ON ${t.sql} FOR SELECT TO ${TENANT_ROLE}
            USING (${asTenant} AND organization_id IS NULL)`]
      : []),
    `DROP POLICY IF EXISTS system_access ON ${t.sql}`,
    `CREATE POLICY system_access ON ${t.sql} FOR ALL TO ${SYSTEM_ROLE} USING (${asSystem}) WITH CHECK (${asSystem})`,
    ...grantStatements(t.schema, t.sql),
  ];
  await run(ctx, statements);
}

/** Grants both runtime roles access to a table that is not tenant-scoped (`"schema.table"`). */
export async function grantRuntimeAccess(ctx: SqlContext, table: string): Promise<void> {
  const t = parseQualifiedName(table);
  await run(ctx, grantStatements(t.schema, t.sql));
}

function grantStatements(schema: string, tableSql: string): string[] {
  return [
    `GRANT USAGE ON SCHEMA "${schema}" TO ${RUNTIME_ROLES}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${tableSql} TO ${RUNTIME_ROLES}`,
    // serial/bigserial columns draw from sequences the runtime roles must be allowed to advance.
    `GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "${schema}" TO ${RUNTIME_ROLES}`,
  ];
}

async function run(ctx: SqlContext, statements: string[]): Promise<void> {
  // One simple-protocol round trip; identifiers were validated by parseQualifiedName.
  await ctx.sequelize.query(statements.join(";\n"), { transaction: ctx.transaction });
}
