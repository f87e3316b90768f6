/** Load generator of the transport benchmark (its own process): `load.ts <grpc|connect> <port> <concurrency> <ms>`. */
import { createClient as createConnectClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AuthzService } from "../../gen/rollcall/authz/v1/authz_pb.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { runLoad } from "../lib/load.js";
import { report } from "../lib/child.js";

const [kind, port, concurrency, durationMs] = process.argv.slice(2);
const request = { subjectId: "00000000-0000-4000-8000-000000000001", organizationId: "00000000-0000-4000-8000-000000000002", resource: "attendance", action: "read" };
const call: () => Promise<unknown> = kind === "grpc"
  ? ((client) => () => client.check(request))(createClient(AuthzService, `127.0.0.1:${port}`))
  : ((client) => () => client.check(request))(createConnectClient(AuthzService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` })));

try {
  report.ready();
  const result = await runLoad(call, { concurrency: Number(concurrency), durationMs: Number(durationMs), warmupMs: 1500 });
  report.result(result);
} catch (err) {
  report.error(err);
}
process.exit(0);
