import { readFile } from "node:fs/promises";
import { status } from "@grpc/grpc-js";
import { parse } from "csv-parse/sync";
import { UserService } from "../../gen/rollcall/identity/v1/user_pb.js";
import { AppError } from "../../services/runtime/errors.js";
import { EXIT, usageError } from "../exit-codes.js";
import { findUser } from "../resolve.js";
import type { Run } from "../run.js";

const REQUIRED = ["username", "email", "first_name", "last_name"] as const;
const OPTIONAL = ["password", "roles", "employee_code", "department", "phone_number", "patronymic"] as const;

export interface RowOutcome {
  line: number;
  username: string;
  outcome: "created" | "skipped" | "failed";
  userId?: string;
  reason?: string;
}

type Row = Record<string, string>;

/** Parses the CSV; a missing required column is a usage error before any row is sent. */
export function readRows(text: string, file: string): { line: number; row: Row }[] {
  let parsed: { info: { lines: number }; record: Row }[];
  try {
    parsed = parse(text, { columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()), skip_empty_lines: true, trim: true, bom: true, info: true });
  } catch (err) {
    throw usageError(`${file}: not valid CSV: ${(err as Error).message}`);
  }
  const columns = new Set(Object.keys(parsed[0]?.record ?? {}));
  if (parsed.length > 0) {
    const missing = REQUIRED.filter((c) => !columns.has(c));
    if (missing.length > 0) throw usageError(`${file}: the header lacks ${missing.join(", ")} (required: ${REQUIRED.join(", ")})`);
    const unknown = [...columns].filter((c) => !(REQUIRED as readonly string[]).includes(c) && !(OPTIONAL as readonly string[]).includes(c));
    if (unknown.length > 0) throw usageError(`${file}: unknown column ${unknown.join(", ")} (known: ${[...REQUIRED, ...OPTIONAL].join(", ")})`);
  }
  return parsed.map((p) => ({ line: p.info.lines, row: p.record }));
}

/** `rollcall user import`: one CreateUser per row; a row whose username exists is skipped. */
export async function importUsers(run: Run, file: string, organizationId: string): Promise<number> {
  const rows = readRows(await readFile(file, "utf8"), file);
  const users = run.conn.client(UserService);
  const outcomes: RowOutcome[] = [];
  for (const { line, row } of rows) {
    const username = row.username ?? "";
    let outcome: RowOutcome;
    try {
      const { user } = await users.createUser({
        organizationId, username, email: row.email, firstName: row.first_name, lastName: row.last_name, patronymic: row.patronymic ?? "",
        password: row.password || undefined, roles: (row.roles ?? "").split(/[;|]/).map((r) => r.trim()).filter(Boolean),
        employeeCode: row.employee_code ?? "", department: row.department ?? "", phoneNumber: row.phone_number ?? "",
      });
      outcome = { line, username, outcome: "created", userId: user!.id };
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      if (err.code === status.UNAVAILABLE || err.code === status.UNAUTHENTICATED) throw err; // every later row would fail the same way
      outcome = err.code === status.ALREADY_EXISTS ? await existing(run, username, organizationId, err) : { line, username, outcome: "failed", reason: err.message };
      outcome.line = line;
    }
    outcomes.push(outcome);
    if (!run.out.json) {
      run.out.line(`line ${line} ${username || "(no username)"}: ${outcome.outcome}${outcome.reason ? ` (${outcome.reason})` : ""}`);
    }
  }
  const count = (o: RowOutcome["outcome"]) => outcomes.filter((x) => x.outcome === o).length;
  const summary = { created: count("created"), skipped: count("skipped"), failed: count("failed") };
  run.out.result({ file, rows: outcomes, summary }, () =>
    run.out.line(`${rows.length} rows: ${summary.created} created, ${summary.skipped} skipped (already there), ${summary.failed} failed`));
  return summary.failed > 0 ? EXIT.PARTIAL : EXIT.OK;
}

/** ALREADY_EXISTS: a re-run when the username is there; otherwise (e.g. the email is taken) a failure. */
async function existing(run: Run, username: string, organizationId: string, err: AppError): Promise<RowOutcome> {
  try {
    const user = await findUser(run.conn, username, organizationId);
    return { line: 0, username, outcome: "skipped", userId: user.id, reason: "already exists" };
  } catch {
    return { line: 0, username, outcome: "failed", reason: err.message };
  }
}
