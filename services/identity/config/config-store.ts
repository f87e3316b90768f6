import { fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { invalidArgument, notFound } from "../../runtime/errors.js";
import type { Identity } from "../context.js";

const KEY = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const MAX_VALUE_BYTES = 64 * 1024;
const CACHE_TTL_MS = 5 * 60_000;

export const configCacheKeys = {
  organization: (org: string) => `config:system:${org}`,
  app: "config:app",
};

export function configKey(field: string, key: string): string {
  if (!KEY.test(key)) throw invalidArgument(field, "must be 1–128 lower-case letters, digits, '.', '_' or '-', e.g. attendance.debounce_seconds");
  return key;
}

export function jsonOf(field: string, value: Value | undefined): JsonValue {
  if (!value) throw invalidArgument(field, "is required");
  const json = toJson(ValueSchema, value);
  if (JSON.stringify(json).length > MAX_VALUE_BYTES) throw invalidArgument(field, "must be at most 64 KiB as JSON");
  return json;
}

export const valueOf = (json: JsonValue): Value => fromJson(ValueSchema, json);

/**
 * Per-organisation config and application settings. Reads go through the shared cache (one entry
 * per organisation holding all its keys, TTL 5 min); every write deletes that entry, so the next
 * read anywhere sees the change.
 */
export class ConfigStore {
  constructor(private readonly id: Identity) {}

  async all(organizationId: string): Promise<Record<string, JsonValue>> {
    const cached = await this.id.cache.get(configCacheKeys.organization(organizationId));
    if (cached !== null) return JSON.parse(cached) as Record<string, JsonValue>;
    const rows = await this.id.db.withTenant(organizationId, (tx) =>
      this.id.sql.rows<{ config_key: string; config_value: JsonValue }>(tx, "SELECT config_key, config_value FROM identity.system_configs ORDER BY config_key"));
    const entries = Object.fromEntries(rows.map((r) => [r.config_key, r.config_value]));
    await this.id.cache.set(configCacheKeys.organization(organizationId), JSON.stringify(entries), CACHE_TTL_MS);
    return entries;
  }

  async get(organizationId: string, key: string): Promise<JsonValue> {
    const entries = await this.all(organizationId);
    if (!(key in entries)) throw notFound("config key", key);
    return entries[key]!;
  }

  async set(organizationId: string, key: string, value: JsonValue): Promise<void> {
    await this.id.db.withTenant(organizationId, (tx) => this.id.sql.execute(tx,
      `INSERT INTO identity.system_configs (organization_id, config_key, config_value) VALUES ($1, $2, $3)
       ON CONFLICT (organization_id, config_key) DO UPDATE SET config_value = EXCLUDED.config_value, updated_at = now()`,
      [organizationId, key, JSON.stringify(value)]));
    await this.id.cache.del(configCacheKeys.organization(organizationId));
  }

  async delete(organizationId: string, key: string): Promise<void> {
    const removed = await this.id.db.withTenant(organizationId, (tx) =>
      this.id.sql.execute(tx, "DELETE FROM identity.system_configs WHERE config_key = $1", [key]));
    await this.id.cache.del(configCacheKeys.organization(organizationId));
    if (removed === 0) throw notFound("config key", key);
  }

  async appSetting(key: string): Promise<JsonValue> {
    const cached = await this.id.cache.get(configCacheKeys.app);
    let settings: Record<string, JsonValue>;
    if (cached !== null) settings = JSON.parse(cached) as Record<string, JsonValue>;
    else {
      const rows = await this.id.db.withSystem((tx) => this.id.sql.rows<{ setting_key: string; setting_value: JsonValue }>(tx, "SELECT setting_key, setting_value FROM identity.application_settings"));
      settings = Object.fromEntries(rows.map((r) => [r.setting_key, r.setting_value]));
      await this.id.cache.set(configCacheKeys.app, JSON.stringify(settings), CACHE_TTL_MS);
    }
    if (!(key in settings)) throw notFound("application setting", key);
    return settings[key]!;
  }

  async setAppSetting(key: string, value: JsonValue): Promise<void> {
    await this.id.db.withSystem((tx) => this.id.sql.execute(tx,
      `INSERT INTO identity.application_settings (setting_key, setting_value) VALUES ($1, $2)
       ON CONFLICT (setting_key) DO UPDATE SET setting_value = EXCLUDED.setting_value, updated_at = now()`, [key, JSON.stringify(value)]));
    await this.id.cache.del(configCacheKeys.app);
  }
}
