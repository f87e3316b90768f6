/**
 * Load generator of the identity benchmark:
 *   `load.ts <login|refresh> <grpc-js|http2> <target> <concurrency> <ms> <logins,...> [rate/s]`.
 * Without a rate the clients call back to back (closed loop); with one, calls arrive at that rate
 * and at most <concurrency> are in flight (open model).
 * "grpc-js" is the mesh's own client; "http2" a minimal one (http2-unary.ts) that costs the shared
 * cores less. Reports its own CPU per call too: it shares the machine's cores with the server.
 */
import { AuthService, LoginRequestSchema, LoginResponseSchema, RefreshRequestSchema, RefreshResponseSchema } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { runAtRate, runLoad } from "../lib/load.js";
import { report } from "../lib/child.js";
import { Http2Unary } from "./http2-unary.js";

const BENCH_PASSWORD = "Benchmark-password-2026";
const [scenario, client, target, concurrency, durationMs, loginList, rate] = process.argv.slice(2);
const logins = loginList!.split(",");

/** Login and refresh through the chosen client, each answering with the session's next refresh token. */
function authClient(): { login(login: string): Promise<string>; refresh(token: string): Promise<string> } {
  if (client === "http2") {
    const http2 = new Http2Unary(target!);
    return {
      login: async (login) => (await http2.call("/rollcall.identity.v1.AuthService/Login", LoginRequestSchema, { organizationCode: "default", login, password: BENCH_PASSWORD }, LoginResponseSchema)).tokens!.refreshToken,
      refresh: async (refreshToken) => (await http2.call("/rollcall.identity.v1.AuthService/Refresh", RefreshRequestSchema, { refreshToken }, RefreshResponseSchema)).tokens!.refreshToken,
    };
  }
  const auth = createClient(AuthService, target!);
  return {
    login: async (login) => (await auth.login({ organizationCode: "default", login, password: BENCH_PASSWORD })).tokens!.refreshToken,
    refresh: async (refreshToken) => (await auth.refresh({ refreshToken })).tokens!.refreshToken,
  };
}

const auth = authClient();
let next = 0;
const login = () => auth.login(logins[next++ % logins.length]!);

/**
 * Refresh tokens free to use, one per concurrent client: a token is taken out while its refresh is
 * in flight, since presenting one twice is (rightly) treated as theft.
 */
const free: string[] = [];
const refresh = async () => {
  const token = free.pop() ?? (await login());
  free.push(await auth.refresh(token));
};

try {
  if (scenario === "refresh") for (let i = 0; i < Number(concurrency); i++) free.push(await login());
  report.ready();
  const call = scenario === "refresh" ? refresh : login;
  // Warm-up apart, so that this process's own CPU is measured over the measured calls only.
  await runLoad(call, { concurrency: Number(concurrency), durationMs: 1500, warmupMs: 0 });
  const cpu = process.cpuUsage();
  const result = rate
    ? await runAtRate(call, { ratePerSecond: Number(rate), concurrency: Number(concurrency), durationMs: Number(durationMs) })
    : await runLoad(call, { concurrency: Number(concurrency), durationMs: Number(durationMs), warmupMs: 0 });
  const used = process.cpuUsage(cpu);
  report.result({ ...result, clientCpuMicrosPerCall: (used.user + used.system) / result.calls });
} catch (err) {
  report.error(err);
}
process.exit(0);
