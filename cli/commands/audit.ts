import { setTimeout as sleep } from "node:timers/promises";
import { Command } from "commander";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AuditService } from "../../gen/rollcall/audit/v1/audit_pb.js";
import { AuditLogSchema, Outcome, type AuditLog } from "../../gen/rollcall/audit/v1/types_pb.js";
import { ActorType } from "../../gen/rollcall/common/v1/common_pb.js";
import { EXIT, usageError } from "../exit-codes.js";
import { protoJson, time, type Output } from "../output.js";
import { withMesh } from "../run.js";

const FOLLOW_POLL_MS = 2_000;

function printLog(out: Output, log: AuditLog): void {
  out.record(protoJson(AuditLogSchema, log),
    `${time(log.createdAt)}  #${log.id}  ${Outcome[log.outcome].padEnd(7)}  ${log.action.padEnd(24)}  ${ActorType[log.actorType]}:${log.actorId || "-"}` +
      `${log.entityType ? `  ${log.entityType}:${log.entityId}` : ""}`);
}

function dateOf(flag: string, value: string | undefined) {
  if (!value) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw usageError(`${flag}: "${value}" is not a date or ISO 8601 time`);
  return timestampFromDate(date);
}

/** rollcall audit tail|verify. */
export function auditCommand(): Command {
  const audit = new Command("audit").description("the tamper-evident audit log of your organisation");

  audit.command("tail")
    .description("print the latest audit-log rows (oldest first); --follow keeps printing new ones")
    .option("-n, --lines <n>", "how many rows", "20")
    .option("-a, --action <action>", "exact action, or a prefix ending in '.', e.g. user.", "")
    .option("-f, --follow", "keep printing new rows until Ctrl-C")
    .action(withMesh<{ lines: string; action: string; follow?: boolean }>(async ({ conn, out }, opts) => {
      const lines = Number(opts.lines);
      if (!Number.isInteger(lines) || lines < 1 || lines > 500) throw usageError(`--lines: must be 1–500 (got "${opts.lines}")`);
      const service = conn.client(AuditService);
      const latest = async (pageSize: number) => (await service.listAuditLogs({ filter: { action: opts.action }, page: { pageSize } })).logs;
      const rows = (await latest(lines)).reverse();
      rows.forEach((row) => printLog(out, row));
      if (!opts.follow) return;
      let lastId = rows.at(-1)?.id ?? 0n;
      const stopped = new AbortController();
      process.once("SIGINT", () => stopped.abort());
      process.once("SIGTERM", () => stopped.abort());
      while (!stopped.signal.aborted) {
        await sleep(FOLLOW_POLL_MS, undefined, { signal: stopped.signal }).catch(() => undefined);
        if (stopped.signal.aborted) break;
        const fresh = (await latest(500)).filter((row) => row.id > lastId).reverse();
        fresh.forEach((row) => printLog(out, row));
        lastId = fresh.at(-1)?.id ?? lastId;
      }
    }));

  audit.command("verify")
    .description("recompute the hash chain and report the first broken row; exits 7 when broken")
    .option("--from <time>", "only rows created at or after this date/time")
    .option("--to <time>", "only rows created before this date/time")
    .action(withMesh<{ from?: string; to?: string }>(async ({ conn, out }, opts) => {
      const answer = await conn.client(AuditService).verifyChain({ timeRange: { startTime: dateOf("--from", opts.from), endTime: dateOf("--to", opts.to) } });
      out.result({ ok: answer.ok, rowsChecked: String(answer.rowsChecked), firstBrokenId: String(answer.firstBrokenId), reason: answer.reason }, () =>
        out.line(answer.ok ? `audit chain intact: ${rowsChecked(answer.rowsChecked)}`
          : `audit chain BROKEN at row #${answer.firstBrokenId}: ${answer.reason} (${rowsChecked(answer.rowsChecked)})`));
      if (!answer.ok) out.errors.write(out.json ? "" : "rollcall: the audit chain does not verify; rows were altered or removed\n");
      return answer.ok ? EXIT.OK : EXIT.PARTIAL;
    }));

  return audit;
}

function rowsChecked(count: number | bigint): string {
  return `${count} ${Number(count) === 1 ? "row" : "rows"} checked`;
}
