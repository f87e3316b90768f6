import { Command } from "commander";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { UserSchema, UserService, type User } from "../../gen/rollcall/identity/v1/user_pb.js";
import { usageError } from "../exit-codes.js";
import { protoJson, time, type Output } from "../output.js";
import { readStdin } from "../prompt.js";
import { findOrganization, findUser, listAll } from "../resolve.js";
import { withMesh, type Run } from "../run.js";
import { importUsers } from "./user-import.js";

interface AddOptions {
  email: string;
  firstName: string;
  lastName: string;
  patronymic: string;
  password?: string;
  passwordStdin?: boolean;
  role: string[];
  employeeCode: string;
  department: string;
  phone: string;
  org?: string;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function show(out: Output, user: User, verb: string): void {
  out.result(protoJson(UserSchema, user), () =>
    out.line(`${verb} user ${user.username} <${user.email}>, id ${user.id}, roles ${user.roles.join(", ") || "-"}${user.banUntil ? `, banned until ${time(user.banUntil)}` : ""}`));
}

/** The organisation a --org flag names (code or id), or "" for the caller's own. */
export async function orgIdOf({ conn }: Run, ref: string | undefined): Promise<string> {
  return ref ? (await findOrganization(conn, ref)).id : "";
}

/** "2026-01-31T12:00:00Z", "2026-01-31", or a duration from now: "30m", "12h", "7d". */
export function parseUntil(value: string): Date {
  const duration = /^(\d+)([mhdw])$/.exec(value);
  if (duration) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[duration[2] as "m" | "h" | "d" | "w"];
    return new Date(Date.now() + Number(duration[1]) * unit);
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw usageError(`--until: "${value}" is neither a date (2026-01-31, ISO 8601) nor a duration (30m, 12h, 7d, 2w)`);
  return date;
}

/** rollcall user add|list|show|ban|unban|delete|import. */
export function userCommand(): Command {
  const user = new Command("user").description("manage the users of your organisation");

  user.command("add <username>")
    .description("create a user (roles default to USER)")
    .requiredOption("-e, --email <email>", "email address")
    .requiredOption("--first-name <name>", "given name")
    .requiredOption("--last-name <name>", "family name")
    .option("--patronymic <name>", "patronymic / middle name", "")
    .option("--password <password>", "initial password (visible in the process list: prefer --password-stdin)")
    .option("--password-stdin", "read the initial password from standard input")
    .option("-r, --role <role>", "role to assign (repeatable), e.g. OPERATOR", collect, [])
    .option("--employee-code <code>", "staff number", "")
    .option("--department <name>", "department", "")
    .option("--phone <e164>", "phone number, e.g. +14155550123", "")
    .option("--org <org>", "organisation code or id (platform operators; default: yours)")
    .action(withMesh<AddOptions>(async (run, opts, username: string) => {
      const password = opts.passwordStdin ? await readStdin() : opts.password;
      const { user: created } = await run.conn.client(UserService).createUser({
        organizationId: await orgIdOf(run, opts.org), username, email: opts.email, password, firstName: opts.firstName, lastName: opts.lastName,
        patronymic: opts.patronymic, phoneNumber: opts.phone, employeeCode: opts.employeeCode, department: opts.department, roles: opts.role,
      });
      show(run.out, created!, "created");
    }));

  user.command("list")
    .description("list users")
    .option("-q, --query <text>", "substring of username, email, name or employee code", "")
    .option("-r, --role <role>", "only holders of this role", "")
    .option("--department <name>", "only this department", "")
    .option("--deleted", "include deleted users")
    .option("--org <org>", "organisation code or id (platform operators; default: yours)")
    .action(withMesh<{ query: string; role: string; department: string; deleted?: boolean; org?: string }>(async (run, opts) => {
      const organizationId = await orgIdOf(run, opts.org);
      const users = await listAll(async (pageToken) => {
        const page = await run.conn.client(UserService).listUsers({
          organizationId, query: opts.query, role: opts.role, department: opts.department, includeDeleted: Boolean(opts.deleted), page: { pageSize: 500, pageToken },
        });
        return { items: page.users, next: page.page?.nextPageToken ?? "" };
      });
      run.out.result({ users: users.map((u) => protoJson(UserSchema, u)) }, () =>
        run.out.table(["USERNAME", "NAME", "EMAIL", "DEPARTMENT", "STATE", "ID"], users.map((u) => [
          u.username, u.fullName, u.email, u.profile?.department || "-",
          u.deletedAt ? "deleted" : u.banUntil ? `banned until ${time(u.banUntil)}` : u.isActive ? "active" : "inactive", u.id,
        ])));
    }));

  user.command("show <user>")
    .description("show one user (username, email or id)")
    .action(withMesh(async ({ conn, out }, _opts, ref: string) => {
      const { id } = await findUser(conn, ref);
      show(out, (await conn.client(UserService).getUser({ userId: id })).user!, "");
    }));

  user.command("ban <user>")
    .description("ban a user until a time (their sessions end now)")
    .requiredOption("--until <when>", "ISO date/time, or a duration from now: 30m, 12h, 7d, 2w")
    .requiredOption("--reason <text>", "recorded in the audit log")
    .action(withMesh<{ until: string; reason: string }>(async ({ conn, out }, opts, ref: string) => {
      const until = parseUntil(opts.until);
      const target = await findUser(conn, ref);
      const { user: banned } = await conn.client(UserService).banUser({ userId: target.id, until: timestampFromDate(until), reason: opts.reason });
      show(out, banned!, "banned");
    }));

  user.command("unban <user>")
    .description("lift a user's ban (they can log in again)")
    .action(withMesh(async ({ conn, out }, _opts, ref: string) => {
      const target = await findUser(conn, ref);
      const { user: lifted } = await conn.client(UserService).banUser({ userId: target.id });
      show(out, lifted!, "unbanned");
    }));

  user.command("delete <user>")
    .description("delete a user (soft delete: sessions end; enrolled faces stay until deleted with vision)")
    .option("--reason <text>", "recorded in the audit log", "")
    .action(withMesh<{ reason: string }>(async ({ conn, out }, opts, ref: string) => {
      const target = await findUser(conn, ref);
      const { user: deleted } = await conn.client(UserService).deleteUser({ userId: target.id, reason: opts.reason });
      show(out, deleted!, "deleted");
    }));

  user.command("import <file>")
    .description("create users from a CSV file with a header row; safe to re-run (existing users are skipped)")
    .option("--org <org>", "organisation code or id (platform operators; default: yours)")
    .addHelpText("after", `
Columns (header names, any order): username, email, first_name, last_name (required);
password, roles (separated by ';' or '|'), employee_code, department, phone_number, patronymic.
Every row is reported: created, skipped (already exists) or failed with the server's reason.
Exits 7 when some rows failed.`)
    .action(withMesh<{ org?: string }>(async (run, opts, file: string) => importUsers(run, file, await orgIdOf(run, opts.org))));

  return user;
}
