import { DeviceService, DeviceDirection } from "../../../gen/rollcall/identity/v1/device_pb.js";
import type { CallContext, ServiceImpl } from "../../runtime/grpc/context.js";
import { pageOf, readPage } from "../../runtime/pagination.js";
import * as v from "../../runtime/validate.js";
import type { Identity } from "../context.js";
import { callerOf, isPlatform, targetOrganization } from "../../runtime/authz/callers.js";
import { direction, toDevice, type Devices } from "./devices.js";
import type { DeviceStore } from "./store.js";

export function deviceHandlers(id: Identity, devices: Devices, store: DeviceStore): ServiceImpl<typeof DeviceService> {
  const authorize = async (ctx: CallContext, action: string) => {
    if (!isPlatform(callerOf(ctx))) await id.authz.authorize(ctx, "devices", action);
  };

  return {
    async registerDevice(req, ctx) {
      const orgId = targetOrganization(ctx, req.organizationId);
      await authorize(ctx, "create");
      const { device, secret } = await devices.register(orgId, req, callerOf(ctx));
      return { device: toDevice(device), secret };
    },

    async getDevice(req, ctx) {
      const caller = callerOf(ctx);
      // A camera may read its own record (direction, name) without a grant.
      if (!(caller.kind === "device" && caller.subject === req.deviceId)) await authorize(ctx, "read");
      return { device: toDevice(await devices.get(targetOrganization(ctx, ""), req.deviceId)) };
    },

    async listDevices(req, ctx) {
      const orgId = targetOrganization(ctx, req.organizationId);
      await authorize(ctx, "read");
      const page = readPage(req.page);
      const rows = await id.db.withTenant(orgId, (tx) => store.list(tx, { isActive: req.isActive, after: page.after, limit: page.limit }));
      const { items, nextPageToken } = pageOf(rows, page.limit, (r) => ({ key: r.cursor_key, id: r.id }));
      return { devices: items.map(toDevice), page: { nextPageToken } };
    },

    async updateDevice(req, ctx) {
      await authorize(ctx, "update");
      const changes = {
        name: req.name === undefined ? undefined : v.text("name", req.name, { min: 1, max: 120 }),
        location: req.location === undefined ? undefined : v.text("location", req.location, { max: 200 }),
        direction: req.direction === DeviceDirection.UNSPECIFIED ? undefined : direction("direction", req.direction),
        is_active: req.isActive,
      };
      const row = await devices.change(targetOrganization(ctx, ""), req.deviceId, changes, "update", callerOf(ctx), { fields: Object.keys(changes).filter((k) => changes[k as keyof typeof changes] !== undefined) });
      return { device: toDevice(row) };
    },

    async disableDevice(req, ctx) {
      await authorize(ctx, "update");
      const row = await devices.change(targetOrganization(ctx, ""), req.deviceId, { is_active: false }, "disable", callerOf(ctx), { reason: v.text("reason", req.reason, { max: 500 }) });
      return { device: toDevice(row) };
    },

    async rotateDeviceSecret(req, ctx) {
      await authorize(ctx, "update");
      const { device, secret } = await devices.rotateSecret(targetOrganization(ctx, ""), req.deviceId, callerOf(ctx));
      return { device: toDevice(device), secret };
    },

    async issueDeviceToken(req, ctx) {
      return devices.issueToken(req.deviceId, req.secret, ctx.client.ip);
    },
  };
}
