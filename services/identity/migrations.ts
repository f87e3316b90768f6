import { enableTenantIsolation, grantRuntimeAccess, type Migration } from "../runtime/db/index.js";

/**
 * identity's schema. Tenant tables carry organization_id under row-level security; organisations,
 * signing keys and application settings are platform-level and reached through withSystem.
 * Beyond the data model: user_profiles and oauth_accounts carry organization_id too (so they can
 * be under RLS like every tenant table), and signing_keys holds the JWT keys.
 */
export const identityMigrations: Migration[] = [
  {
    name: "0001-organizations-users-sessions",
    async up(ctx) {
      await ctx.sql(`
        CREATE TABLE identity.organizations (
          id uuid PRIMARY KEY,
          code text NOT NULL,
          name text NOT NULL,
          legal_name text NOT NULL DEFAULT '',
          status text NOT NULL CHECK (status IN ('PENDING', 'ACTIVE', 'SUSPENDED', 'PENDING_DEACTIVATION')),
          status_reason text NOT NULL DEFAULT '',
          timezone text NOT NULL DEFAULT 'UTC',
          settings jsonb NOT NULL DEFAULT '{}',
          deactivation_requested_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX organizations_code ON identity.organizations (lower(code));

        CREATE SEQUENCE identity.face_label_seq AS bigint;

        CREATE TABLE identity.users (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL REFERENCES identity.organizations (id) ON DELETE CASCADE,
          username text NOT NULL,
          email text NOT NULL,
          email_verified boolean NOT NULL DEFAULT false,
          password_hash text,
          first_name text NOT NULL DEFAULT '',
          last_name text NOT NULL DEFAULT '',
          patronymic text NOT NULL DEFAULT '',
          phone_number text NOT NULL DEFAULT '',
          gender text NOT NULL DEFAULT '',
          birth_date date,
          is_active boolean NOT NULL DEFAULT true,
          ban_until timestamptz,
          ban_reason text NOT NULL DEFAULT '',
          is_staff boolean NOT NULL DEFAULT false,
          is_superuser boolean NOT NULL DEFAULT false,
          metadata jsonb NOT NULL DEFAULT '{}',
          last_login_at timestamptz,
          deleted_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX users_email ON identity.users (organization_id, lower(email)) WHERE deleted_at IS NULL;
        CREATE UNIQUE INDEX users_username ON identity.users (organization_id, lower(username)) WHERE deleted_at IS NULL;
        CREATE INDEX users_created ON identity.users (organization_id, created_at, id);

        CREATE TABLE identity.user_profiles (
          user_id uuid PRIMARY KEY REFERENCES identity.users (id) ON DELETE CASCADE,
          organization_id uuid NOT NULL,
          employee_code text NOT NULL DEFAULT '',
          department text NOT NULL DEFAULT '',
          face_label bigint NOT NULL UNIQUE DEFAULT nextval('identity.face_label_seq'),
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE identity.sessions (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          user_id uuid NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
          device_id text NOT NULL DEFAULT '',
          user_agent text NOT NULL DEFAULT '',
          ip_address inet,
          family_id uuid NOT NULL,
          refresh_token_hash text NOT NULL UNIQUE,
          access_jti uuid NOT NULL,
          refresh_expires_at timestamptz NOT NULL,
          last_used_at timestamptz NOT NULL DEFAULT now(),
          revoked_at timestamptz,
          revoked_reason text,
          created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX sessions_family ON identity.sessions (family_id);
        CREATE INDEX sessions_user ON identity.sessions (user_id) WHERE revoked_at IS NULL;

        CREATE TABLE identity.verification_tokens (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          user_id uuid NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
          type text NOT NULL CHECK (type IN ('EMAIL_VERIFICATION', 'PASSWORD_RESET')),
          token_hash text NOT NULL UNIQUE,
          expires_at timestamptz NOT NULL,
          used_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE identity.signing_keys (
          kid text PRIMARY KEY,
          algorithm text NOT NULL,
          public_jwk jsonb NOT NULL,
          private_jwk_enc text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          retire_after timestamptz NOT NULL,
          expires_at timestamptz NOT NULL
        );`);
      for (const table of ["users", "user_profiles", "sessions", "verification_tokens"]) {
        await enableTenantIsolation(ctx, `identity.${table}`);
      }
      for (const table of ["organizations", "signing_keys"]) await grantRuntimeAccess(ctx, `identity.${table}`);
      await ctx.sql(`GRANT USAGE ON SEQUENCE identity.face_label_seq TO rollcall_tenant, rollcall_system`);
    },
  },
  {
    name: "0002-devices-config-oauth",
    async up(ctx) {
      await ctx.sql(`
        CREATE TABLE identity.devices (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL REFERENCES identity.organizations (id) ON DELETE CASCADE,
          name text NOT NULL,
          location text NOT NULL DEFAULT '',
          direction text NOT NULL CHECK (direction IN ('IN', 'OUT', 'BOTH')),
          secret_hash text NOT NULL,
          is_active boolean NOT NULL DEFAULT true,
          last_seen_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX devices_name ON identity.devices (organization_id, lower(name));

        CREATE TABLE identity.system_configs (
          organization_id uuid NOT NULL REFERENCES identity.organizations (id) ON DELETE CASCADE,
          config_key text NOT NULL,
          config_value jsonb NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (organization_id, config_key)
        );

        CREATE TABLE identity.application_settings (
          setting_key text PRIMARY KEY,
          setting_value jsonb NOT NULL,
          updated_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE identity.oauth_providers (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL REFERENCES identity.organizations (id) ON DELETE CASCADE,
          name text NOT NULL,
          issuer text NOT NULL,
          client_id text NOT NULL,
          client_secret_enc text NOT NULL,
          scopes text[] NOT NULL DEFAULT ARRAY['openid', 'email', 'profile'],
          settings jsonb NOT NULL DEFAULT '{}',
          created_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (organization_id, name)
        );

        CREATE TABLE identity.oauth_accounts (
          id uuid PRIMARY KEY,
          organization_id uuid NOT NULL,
          user_id uuid NOT NULL REFERENCES identity.users (id) ON DELETE CASCADE,
          provider_id uuid NOT NULL REFERENCES identity.oauth_providers (id) ON DELETE CASCADE,
          provider_user_id text NOT NULL,
          access_token_enc text,
          refresh_token_enc text,
          expires_at timestamptz,
          provider_data jsonb NOT NULL DEFAULT '{}',
          created_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (provider_id, provider_user_id)
        );`);
      for (const table of ["devices", "system_configs", "oauth_providers", "oauth_accounts"]) {
        await enableTenantIsolation(ctx, `identity.${table}`);
      }
      await grantRuntimeAccess(ctx, "identity.application_settings");
    },
  },
];
