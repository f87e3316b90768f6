import { ConfigService } from "../../../gen/rollcall/identity/v1/config_pb.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import type { Identity } from "../context.js";
import { callerOf, isPlatform, targetOrganization } from "../../runtime/authz/callers.js";
import { requirePlatform } from "../caller-checks.js";
import { configKey, jsonOf, valueOf, type ConfigStore } from "./config-store.js";

export function configHandlers(id: Identity, configs: ConfigStore): ServiceImpl<typeof ConfigService> {
  const authorize = async (ctx: CallContext, action: "read" | "update") => {
    if (!isPlatform(callerOf(ctx))) await id.authz.authorize(ctx, "configs", action);
  };
  const audit = (ctx: CallContext, organizationId: string | undefined, action: string, key: string) =>
    id.audit.publish({ organizationId, actor: callerOf(ctx), action, entityType: "config", entityId: key, outcome: "SUCCESS" });

  return {
    async getConfig(req, ctx) {
      const orgId = targetOrganization(ctx, req.organizationId);
      await authorize(ctx, "read");
      const key = configKey("key", req.key);
      return { entry: { organizationId: orgId, key, value: valueOf(await configs.get(orgId, key)) } };
    },

    async setConfig(req, ctx) {
      const orgId = targetOrganization(ctx, req.organizationId);
      await authorize(ctx, "update");
      const key = configKey("key", req.key);
      const value = jsonOf("value", req.value);
      await configs.set(orgId, key, value);
      await audit(ctx, orgId, "config.set", key);
      return { entry: { organizationId: orgId, key, value: valueOf(value) } };
    },

    async deleteConfig(req, ctx) {
      const orgId = targetOrganization(ctx, req.organizationId);
      await authorize(ctx, "update");
      const key = configKey("key", req.key);
      await configs.delete(orgId, key);
      await audit(ctx, orgId, "config.delete", key);
      return {};
    },

    async listConfig(req, ctx) {
      const orgId = targetOrganization(ctx, req.organizationId);
      await authorize(ctx, "read");
      const entries = await configs.all(orgId);
      return { entries: Object.entries(entries).map(([key, value]) => ({ organizationId: orgId, key, value: valueOf(value) })) };
    },

    async getAppSetting(req, ctx) {
      callerOf(ctx);
      const key = configKey("key", req.key);
      return { setting: { key, value: valueOf(await configs.appSetting(key)) } };
    },

    async setAppSetting(req, ctx) {
      requirePlatform(ctx, "change application settings");
      const key = configKey("key", req.key);
      const value = jsonOf("value", req.value);
      await configs.setAppSetting(key, value);
      await audit(ctx, undefined, "app_setting.set", key);
      return { setting: { key, value: valueOf(value) } };
    },
  };
}
