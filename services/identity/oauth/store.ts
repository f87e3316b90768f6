import type { Transaction } from "sequelize";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Sql } from "../../runtime/db/index.js";

export interface ProviderRow {
  id: string;
  organization_id: string;
  name: string;
  issuer: string;
  client_id: string;
  /** SecretBox-sealed with the provider id as associated data. */
  client_secret_enc: string;
  scopes: string[];
  settings: JsonObject;
  created_at: Date;
}

export type NewProvider = Omit<ProviderRow, "created_at">;

export interface AccountRow {
  id: string;
  organization_id: string;
  user_id: string;
  provider_id: string;
  provider_user_id: string;
  created_at: Date;
}

export interface AccountTokens {
  /** Sealed with the account id as associated data. */
  accessTokenEnc: string | null;
  /** Sealed likewise; null keeps the one stored (providers send refresh tokens only sometimes). */
  refreshTokenEnc: string | null;
  expiresAt: Date | null;
  providerData: JsonObject;
}

/** Unique constraints of migration 0002, as Postgres names them. */
export const PROVIDER_NAME_TAKEN = "oauth_providers_organization_id_name_key";
export const ACCOUNT_ALREADY_LINKED = "oauth_accounts_provider_id_provider_user_id_key";

const PROVIDER_COLUMNS = "id, organization_id, name, issuer, client_id, client_secret_enc, scopes, settings, created_at";
const ACCOUNT_COLUMNS = "id, organization_id, user_id, provider_id, provider_user_id, created_at";

/** identity.oauth_providers and identity.oauth_accounts: tenant rows, reached inside withTenant. */
export class OAuthStore {
  constructor(private readonly sql: Sql) {}

  async insertProvider(tx: Transaction, p: NewProvider): Promise<ProviderRow> {
    return (await this.sql.row<ProviderRow>(tx,
      `INSERT INTO identity.oauth_providers (id, organization_id, name, issuer, client_id, client_secret_enc, scopes, settings)
       VALUES ($1, $2, $3, $4, $5, $6, $7::text[], $8) RETURNING ${PROVIDER_COLUMNS}`,
      [p.id, p.organization_id, p.name, p.issuer, p.client_id, p.client_secret_enc, p.scopes, JSON.stringify(p.settings)]))!;
  }

  providers(tx: Transaction): Promise<ProviderRow[]> {
    return this.sql.rows(tx, `SELECT ${PROVIDER_COLUMNS} FROM identity.oauth_providers ORDER BY name`);
  }

  async countProviders(tx: Transaction): Promise<number> {
    const row = await this.sql.row<{ n: string }>(tx, "SELECT count(*) AS n FROM identity.oauth_providers");
    return Number(row?.n ?? 0);
  }

  providerByName(tx: Transaction, name: string): Promise<ProviderRow | undefined> {
    return this.sql.row(tx, `SELECT ${PROVIDER_COLUMNS} FROM identity.oauth_providers WHERE name = $1`, [name]);
  }

  providerById(tx: Transaction, id: string): Promise<ProviderRow | undefined> {
    return this.sql.row(tx, `SELECT ${PROVIDER_COLUMNS} FROM identity.oauth_providers WHERE id = $1`, [id]);
  }

  /** The organisation of a provider, for platform callers who name only the provider (inside withSystem). */
  async organizationOf(tx: Transaction, providerId: string): Promise<string | undefined> {
    return (await this.sql.row<{ organization_id: string }>(tx, "SELECT organization_id FROM identity.oauth_providers WHERE id = $1", [providerId]))?.organization_id;
  }

  /** Linked accounts go with it (ON DELETE CASCADE). */
  deleteProvider(tx: Transaction, id: string): Promise<number> {
    return this.sql.execute(tx, "DELETE FROM identity.oauth_providers WHERE id = $1", [id]);
  }

  accountOf(tx: Transaction, providerId: string, providerUserId: string): Promise<AccountRow | undefined> {
    return this.sql.row(tx,
      `SELECT ${ACCOUNT_COLUMNS} FROM identity.oauth_accounts WHERE provider_id = $1 AND provider_user_id = $2`,
      [providerId, providerUserId]);
  }

  async insertAccount(tx: Transaction, a: Omit<AccountRow, "created_at">): Promise<AccountRow> {
    return (await this.sql.row<AccountRow>(tx,
      `INSERT INTO identity.oauth_accounts (id, organization_id, user_id, provider_id, provider_user_id)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${ACCOUNT_COLUMNS}`,
      [a.id, a.organization_id, a.user_id, a.provider_id, a.provider_user_id]))!;
  }

  async saveTokens(tx: Transaction, accountId: string, t: AccountTokens): Promise<void> {
    await this.sql.execute(tx,
      `UPDATE identity.oauth_accounts
       SET access_token_enc = $2, refresh_token_enc = COALESCE($3, refresh_token_enc), expires_at = $4, provider_data = $5
       WHERE id = $1`,
      [accountId, t.accessTokenEnc, t.refreshTokenEnc, t.expiresAt, JSON.stringify(t.providerData)]);
  }
}
