import { setTimeout as sleep } from "node:timers/promises";
import { AuthzService } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { AuditService } from "../../gen/rollcall/audit/v1/audit_pb.js";
import { VisionService } from "../../gen/rollcall/vision/v1/vision_pb.js";
import { RpcServer } from "../../services/runtime/grpc/server.js";
import { AdminHttpServer } from "../../services/runtime/admin-http.js";
import { Authenticator } from "../../services/runtime/auth/authenticator.js";
import { TokenVerifier, remoteKeySet } from "../../services/runtime/auth/token-verifier.js";
import { Metrics } from "../../services/runtime/metrics.js";
import { notFound, invalidArgument, resourceExhausted } from "../../services/runtime/errors.js";
import { createLogger } from "../../services/runtime/logger.js";
import type { CallContext } from "../../services/runtime/grpc/context.js";

/**
 * A real gRPC server with test handlers that exercise each path of the call pipeline: the
 * request's `resource` picks the behaviour (an error kind, a delay, waiting for cancellation).
 */
export const ORG = "00000000-0000-4000-8000-0000000000aa";
const logger = createLogger("silent");

export async function startServer(jwksUrl: string, maxMessageBytes = 1024 * 1024) {
  const metrics = new Metrics();
  const server = new RpcServer({
    logger,
    metrics,
    maxMessageBytes,
    authenticator: new Authenticator(new TokenVerifier({ issuer: "rollcall", audience: "rollcall", keys: remoteKeySet(jwksUrl, 60_000) })),
  });
  const seen: { signalAborted?: boolean } = {};
  server.register(AuthzService, {
    async check(req, ctx: CallContext) {
      switch (req.resource) {
        case "missing": throw notFound("role", req.subjectId);
        case "bad": throw invalidArgument("resource", "must be 1–64 characters");
        case "busy": throw resourceExhausted("too many attempts; try again later", 1500);
        case "boom": throw new Error("connection to db at 10.0.0.7 failed, password=hunter2");
        case "slow": await sleep(Number(req.action), undefined, { signal: ctx.signal }); break;
        case "wait-for-abort":
          await new Promise<void>((resolve) => ctx.signal.addEventListener("abort", () => { seen.signalAborted = true; resolve(); }));
          break;
      }
      return { allowed: true, reason: `caller ${ctx.caller?.subject} of ${ctx.caller?.organizationId}`, decidedByRole: ctx.caller?.roles.join(",") ?? "" };
    },
  });
  server.register(AuthService, { getJwks: async () => ({ jwksJson: '{"keys":[]}' }) }, { publicMethods: ["getJwks"] });
  server.register(AuditService, {
    async *subscribeNotifications(_req, ctx) {
      for (let i = 0; !ctx.signal.aborted; i++) {
        yield { cursor: String(i) };
        await sleep(20);
      }
    },
  });
  server.register(VisionService, {
    async *streamFrames(requests) {
      for await (const request of requests) yield { frameId: request.frame?.frameId, sequence: request.frame?.sequence };
    },
  });
  const port = await server.listen("127.0.0.1", 0);
  server.markReady();
  const admin = new AdminHttpServer(metrics, logger);
  const adminPort = await admin.listen("127.0.0.1", 0);
  return { server, port, admin, adminPort, seen, target: `127.0.0.1:${port}` };
}

