import { enableTenantIsolation, type Migration } from "../runtime/db/index.js";

/**
 * authz's schema. Every table is under row-level security; built-in resources and permissions
 * have organization_id NULL and are readable (not writable) by every tenant. Built-in rows are
 * written at start from policy/catalogue.ts, not here, so the catalogue has one source.
 *
 * Beyond the data model: grants carry organization_id (so they are under RLS like the rest), and
 * policy_changes records what each revision changed, so a replica that is behind can apply an
 * assignment change to its compiled policy instead of reloading the whole organisation.
 */
const NAME = `'^[a-z0-9_]{1,64}$'`;
const NO_ORG = `'00000000-0000-0000-0000-000000000000'::uuid`;

export const authzMigrations: Migration[] = [
  {
    name: "0001-policy",
    async up(ctx) {
      await ctx.sql(`
        CREATE TABLE authz.resources (
          id uuid PRIMARY KEY,
          organization_id uuid,
          name text NOT NULL CHECK (name ~ ${NAME}),
          description text NOT NULL DEFAULT '',
          has_owner boolean NOT NULL DEFAULT false,
          is_active boolean NOT NULL DEFAULT true,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX resources_name ON authz.resources (COALESCE(organization_id, ${NO_ORG}), name);

        CREATE TABLE authz.permissions (
          id uuid PRIMARY KEY,
          organization_id uuid,
          resource_id uuid NOT NULL REFERENCES authz.resources (id) ON DELETE CASCADE,
          action text NOT NULL CHECK (action ~ ${NAME}),
          name text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
          description text NOT NULL DEFAULT '',
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX permissions_action ON authz.permissions (COALESCE(organization_id, ${NO_ORG}), resource_id, action);
        CREATE UNIQUE INDEX permissions_name ON authz.permissions (COALESCE(organization_id, ${NO_ORG}), name);
        CREATE INDEX permissions_resource ON authz.permissions (resource_id);

        CREATE TABLE authz.roles (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          name text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
          description text NOT NULL DEFAULT '',
          color text NOT NULL DEFAULT '' CHECK (color = '' OR color ~ '^#[0-9A-F]{6}$'),
          is_system_role boolean NOT NULL DEFAULT false,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX roles_name ON authz.roles (organization_id, lower(name));

        CREATE TABLE authz.grants (
          organization_id uuid NOT NULL,
          role_id uuid NOT NULL REFERENCES authz.roles (id) ON DELETE CASCADE,
          permission_id uuid NOT NULL REFERENCES authz.permissions (id) ON DELETE CASCADE,
          scope text NOT NULL CHECK (scope IN ('OWN', 'ALL')),
          granted_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (role_id, permission_id)
        );
        CREATE INDEX grants_org ON authz.grants (organization_id);
        CREATE INDEX grants_permission ON authz.grants (permission_id);

        CREATE TABLE authz.user_roles (
          user_id uuid NOT NULL,
          role_id uuid NOT NULL REFERENCES authz.roles (id) ON DELETE CASCADE,
          organization_id uuid NOT NULL,
          assigned_by uuid,
          assigned_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (user_id, role_id)
        );
        CREATE INDEX user_roles_org ON authz.user_roles (organization_id, user_id);
        CREATE INDEX user_roles_members ON authz.user_roles (role_id, assigned_at, user_id);

        CREATE TABLE authz.revisions (
          organization_id uuid PRIMARY KEY,
          revision bigint NOT NULL,
          changed_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE authz.policy_changes (
          organization_id uuid NOT NULL,
          revision bigint NOT NULL,
          change text NOT NULL,
          -- Set when the change only touched this subject's assignments.
          subject_id uuid,
          changed_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (organization_id, revision)
        );
      `);
      await enableTenantIsolation(ctx, "authz.resources", { readableGlobalRows: true });
      await enableTenantIsolation(ctx, "authz.permissions", { readableGlobalRows: true });
      for (const table of ["roles", "grants", "user_roles", "revisions", "policy_changes"]) {
        await enableTenantIsolation(ctx, `authz.${table}`);
      }
    },
  },
];
