/**
 * Server side of the transport benchmark: the same Check handler served by Rollcall's grpc-js
 * adapter and, as the baseline, by connect-node over HTTP/2. Reports its own CPU time per
 * phase so the parent can compute CPU per call.
 */
import { createServer } from "node:http2";
import type { AddressInfo } from "node:net";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { AuthzService } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { RpcServer } from "../../services/runtime/grpc/server.js";
import { Authenticator } from "../../services/runtime/auth/authenticator.js";
import { TokenVerifier } from "../../services/runtime/auth/token-verifier.js";
import { Metrics } from "../../services/runtime/metrics.js";
import { createLogger } from "../../services/runtime/logger.js";
import { report, serveCpuPhases } from "../lib/child.js";

const check = async (req: { subjectId: string; resource: string }) => ({ allowed: true, reason: `${req.subjectId} may ${req.resource}` });

const logger = createLogger("silent");
const neverVerifies = new TokenVerifier({ issuer: "bench", audience: "bench", keys: async () => { throw new Error("no tokens in this benchmark"); } });
const rpc = new RpcServer({ logger, metrics: new Metrics(), authenticator: new Authenticator(neverVerifies), maxMessageBytes: 4 << 20 });
rpc.register(AuthzService, { check }, { publicMethods: ["check"] });
const grpcPort = await rpc.listen("127.0.0.1", 0);
rpc.markReady();

const connect = createServer(connectNodeAdapter({ routes: (router) => router.service(AuthzService, { check }) }));
await new Promise<void>((resolve) => connect.listen(0, "127.0.0.1", resolve));
const connectPort = (connect.address() as AddressInfo).port;

serveCpuPhases();
process.on("SIGTERM", () => process.exit(0));
report.ready({ grpcPort, connectPort });
