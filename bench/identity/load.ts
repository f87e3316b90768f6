/** Load generator of the identity benchmark: `load.ts <login|refresh> <target> <concurrency> <ms> <logins,...>`. */
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { createClient } from "../../services/runtime/grpc/client.js";
import { runLoad } from "../lib/load.js";
import { report } from "../lib/child.js";

const BENCH_PASSWORD = "Benchmark-password-2026";
const [scenario, target, concurrency, durationMs, loginList] = process.argv.slice(2);
const logins = loginList!.split(",");
const auth = createClient(AuthService, target!);

let next = 0;
const login = () => auth.login({ organizationCode: "default", login: logins[next++ % logins.length]!, password: BENCH_PASSWORD });

/**
 * Refresh tokens free to use, one per concurrent client: a token is taken out while its refresh is
 * in flight, since presenting one twice is (rightly) treated as theft.
 */
const free: string[] = [];
const refresh = async () => {
  const token = free.pop() ?? (await login()).tokens!.refreshToken;
  const res = await auth.refresh({ refreshToken: token });
  free.push(res.tokens!.refreshToken);
};

try {
  if (scenario === "refresh") for (let i = 0; i < Number(concurrency); i++) free.push((await login()).tokens!.refreshToken);
  report.ready();
  const call = scenario === "refresh" ? refresh : login;
  report.result(await runLoad(call, { concurrency: Number(concurrency), durationMs: Number(durationMs), warmupMs: 1500 }));
} catch (err) {
  report.error(err);
}
process.exit(0);
