import { DeviceDirection, DeviceService } from "../../../gen/rollcall/identity/v1/device_pb.js";
import { authzModule } from "../../../services/authz/module.js";
import { Gateway } from "../../../services/gateway/gateway.js";
import { identityModule } from "../../../services/identity/module.js";
import { createLogger } from "../../../services/runtime/logger.js";
import { startIdentityMesh, type IdentityMesh } from "../../identity/mesh-fixture.js";

export interface GatewayInFront {
  mesh: IdentityMesh;
  gateway: Gateway;
  /** The gateway's base URL, as an agent is given it. */
  url: string;
  /** A device registered by the bootstrap administrator. */
  registerDevice(name: string): Promise<{ id: string; secret: string }>;
  stop(): Promise<void>;
}

/**
 * identity + authz (real Postgres/Redis/NATS when their URLs are set, embedded otherwise) and the
 * real gateway in front of them, routing every service of both modules as a gateway pod does.
 */
export async function startGatewayInFront(): Promise<GatewayInFront> {
  const mesh = await startIdentityMesh();
  const gateway = new Gateway({
    routes: [identityModule, authzModule].flatMap((m) => m.services.map((service) => ({ service, target: mesh.target }))),
    maxMessageBytes: 1024 * 1024,
    logger: createLogger(process.env.LOG_LEVEL ?? "silent"),
  });
  const url = `http://127.0.0.1:${await gateway.listen("127.0.0.1", 0)}`;
  return {
    mesh,
    gateway,
    url,
    async registerDevice(name) {
      const registered = await mesh.client(DeviceService, await mesh.adminToken()).registerDevice({ name, direction: DeviceDirection.IN });
      return { id: registered.device!.id, secret: registered.secret };
    },
    async stop() {
      await gateway.close(500);
      await mesh.stop();
    },
  };
}
