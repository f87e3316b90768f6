import { randomUUID } from "node:crypto";
import { alreadyExists, failedPrecondition, invalidArgument, notFound, resourceExhausted } from "../../runtime/errors.js";
import { violatedUnique } from "../../runtime/db/index.js";
import type { AuditRecord } from "../../runtime/audit-publisher.js";
import type { Identity } from "../context.js";
import { Discovery, DiscoveryProblem, type ResolvedProvider } from "./discovery.js";
import { MAX_PROVIDERS_PER_ORGANIZATION, cleanProvider, providerConfig, type ProviderConfig, type ProviderInput } from "./provider-settings.js";
import { PROVIDER_NAME_TAKEN, type OAuthStore, type ProviderRow } from "./store.js";

/** An organisation's identity providers. The client secret is sealed at rest and never leaves. */
export class OAuthProviders {
  constructor(private readonly id: Identity, private readonly store: OAuthStore, private readonly discovery: Discovery) {}

  async create(organizationId: string, input: ProviderInput, actor: AuditRecord["actor"], signal?: AbortSignal): Promise<ProviderRow> {
    const clean = cleanProvider(input);
    const org = await this.id.db.withSystem((tx) => this.id.organizations.byId(tx, organizationId));
    if (!org) throw notFound("organisation", organizationId);
    const providerId = randomUUID();
    const draft: ProviderRow = {
      id: providerId,
      organization_id: organizationId,
      name: clean.name,
      issuer: clean.issuer,
      client_id: clean.clientId,
      client_secret_enc: this.id.box.seal(clean.clientSecret, providerId),
      scopes: clean.scopes,
      settings: clean.storedSettings,
      created_at: new Date(),
    };
    // A provider whose endpoints cannot be found would fail every login: say so to the administrator now.
    await this.resolve(providerConfig(draft), signal, "create");
    const row = await this.id.db.withTenant(organizationId, async (tx) => {
      if ((await this.store.countProviders(tx)) >= MAX_PROVIDERS_PER_ORGANIZATION) {
        throw resourceExhausted(`an organisation may have at most ${MAX_PROVIDERS_PER_ORGANIZATION} OAuth providers; delete one first`);
      }
      return this.store.insertProvider(tx, draft);
    }).catch((err: unknown) => {
      throw violatedUnique(err) === PROVIDER_NAME_TAKEN ? alreadyExists(`an OAuth provider named "${clean.name}" in this organisation`) : err;
    });
    await this.id.audit.publish({ organizationId, actor, action: "oauth_provider.create", entityType: "oauth_provider", entityId: row.id, outcome: "SUCCESS", detail: { name: row.name, issuer: row.issuer } });
    return row;
  }

  list(organizationId: string): Promise<ProviderRow[]> {
    return this.id.db.withTenant(organizationId, (tx) => this.store.providers(tx));
  }

  /** The organisation a provider belongs to, looked up across tenants (for platform callers). */
  organizationOf(providerId: string): Promise<string | undefined> {
    return this.id.db.withSystem((tx) => this.store.organizationOf(tx, providerId));
  }

  async delete(organizationId: string, providerId: string, actor: AuditRecord["actor"]): Promise<void> {
    const removed = await this.id.db.withTenant(organizationId, async (tx) => {
      const row = await this.store.providerById(tx, providerId);
      if (row) await this.store.deleteProvider(tx, providerId);
      return row;
    });
    if (!removed) throw notFound("OAuth provider", providerId);
    await this.id.audit.publish({ organizationId, actor, action: "oauth_provider.delete", entityType: "oauth_provider", entityId: providerId, outcome: "SUCCESS", detail: { name: removed.name } });
  }

  byName(organizationId: string, name: string): Promise<ProviderRow | undefined> {
    return this.id.db.withTenant(organizationId, (tx) => this.store.providerByName(tx, name));
  }

  byId(organizationId: string, providerId: string): Promise<ProviderRow | undefined> {
    return this.id.db.withTenant(organizationId, (tx) => this.store.providerById(tx, providerId));
  }

  clientSecret(row: ProviderRow): string {
    return this.id.box.open(row.client_secret_enc, row.id);
  }

  /**
   * The provider's endpoints. A discovery document that does not fit is the administrator's to
   * fix: INVALID_ARGUMENT on the issuer when creating, FAILED_PRECONDITION when logging in.
   */
  async resolve(provider: ProviderConfig, signal: AbortSignal | undefined, during: "create" | "login"): Promise<ResolvedProvider> {
    try {
      return await this.discovery.resolve(provider, signal);
    } catch (err) {
      if (!(err instanceof DiscoveryProblem)) throw err;
      if (during === "create") throw invalidArgument("issuer", `${err.message}; or give authorization_endpoint, token_endpoint and settings.jwks_uri`);
      throw failedPrecondition(`OAuth provider ${provider.name} is misconfigured: ${err.message}; ask your administrator`);
    }
  }
}
