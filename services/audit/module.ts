import { AuditService } from "../../gen/rollcall/audit/v1/audit_pb.js";
import type { ServiceModule } from "../runtime/service-module.js";

/** Audit: tamper-evident audit log, system logs, health, events, notifications. Handlers land with issue 7. */
export const auditModule: ServiceModule = {
  name: "audit",
  services: [AuditService],
  migrations: [],
  async start({ server }) {
    server.register(AuditService, {});
    return { stop: async () => undefined };
  },
};
