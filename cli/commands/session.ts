import { Command } from "commander";
import { AuthService } from "../../gen/rollcall/identity/v1/auth_pb.js";
import { UserSchema, UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { deleteSession, writeSession } from "../config-file.js";
import { sessionTokens } from "../connection.js";
import { protoJson } from "../output.js";
import { secretFrom } from "../prompt.js";
import { withMesh } from "../run.js";

interface LoginOptions {
  org: string;
  user: string;
  passwordStdin?: boolean;
}

/** login, logout, whoami. */
export function sessionCommands(): Command[] {
  const login = new Command("login")
    .description("log in and remember the session (tokens in a 0600 file, refreshed automatically)")
    .option("-o, --org <code>", "organisation code", process.env.ROLLCALL_ORG ?? "default")
    .option("-u, --user <login>", "username or email", process.env.ROLLCALL_USER ?? "admin")
    .option("--password-stdin", "read the password from standard input (else ROLLCALL_PASSWORD, else a prompt)")
    .addHelpText("after", "\nThe first administrator of a new mesh is admin@default.rollcall.local; `npm start` prints its password once.")
    .action(withMesh<LoginOptions>(async ({ conn, out }, opts) => {
      const password = await secretFrom(opts, "ROLLCALL_PASSWORD", `password for ${opts.user}@${opts.org}: `);
      const answer = await conn.client(AuthService).login({ organizationCode: opts.org, login: opts.user, password, userAgent: "rollcall-cli" }, { bearer: "" });
      const user = answer.user!;
      await writeSession(conn.sessionFile, { addr: conn.addr, organization: opts.org, login: user.username, ...sessionTokens(answer.tokens!) });
      out.result({ user: protoJson(UserSchema, user), organization: opts.org, addr: conn.addr, sessionFile: conn.sessionFile }, () =>
        out.line(`logged in as ${user.username} (${user.email}) in ${opts.org} at ${conn.addr}; session saved in ${conn.sessionFile}`));
    }));

  const logout = new Command("logout")
    .description("end the saved session on the server and forget it here")
    .action(withMesh(async ({ conn, out }) => {
      const token = await conn.token().catch(() => undefined);
      if (token) await conn.client(AuthService).logout({}).catch(() => undefined); // forgetting it locally is what matters
      await deleteSession(conn.sessionFile);
      out.result({ loggedOut: true }, () => out.line("logged out"));
    }));

  const whoami = new Command("whoami")
    .description("show the logged-in user")
    .action(withMesh(async ({ conn, out }) => {
      const { user } = await conn.client(UserService).getUser({ userId: "" });
      out.result(protoJson(UserSchema, user!), () =>
        out.line(`${user!.username} <${user!.email}> id ${user!.id}, organisation ${user!.organizationId}, roles ${user!.roles.join(", ") || "-"}`));
    }));

  return [login, logout, whoami];
}
