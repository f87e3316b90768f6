import { Command, Option } from "commander";
import { status } from "@grpc/grpc-js";
import { AuditService } from "../../gen/rollcall/audit/v1/audit_pb.js";
import { EventSchema, Severity, type Event } from "../../gen/rollcall/audit/v1/types_pb.js";
import { AppError } from "../../services/runtime/errors.js";
import { usageError } from "../exit-codes.js";
import { protoJson, time, type Output } from "../output.js";
import { withMesh } from "../run.js";

const SEVERITIES = ["info", "warning", "error", "critical"];

const collect = (value: string, previous: string[]) => [...previous, value];

function printEvent(out: Output, event: Event): void {
  const metadata = event.metadata ? JSON.stringify(event.metadata) : "";
  out.record(protoJson(EventSchema, event),
    `${time(event.createdAt)}  ${Severity[event.severity].padEnd(8)}  ${event.type.padEnd(16)}  ${event.referenceId ? `ref ${event.referenceId}  ` : ""}${metadata === "{}" ? "" : metadata}`.trimEnd());
}

/** Aborts on the first Ctrl-C / SIGTERM, so a follow ends cleanly with exit 0. */
function stopSignal(): AbortController {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return controller;
}

/** rollcall events tail: the latest events, then new ones as they happen (SubscribeNotifications). */
export function eventsCommand(): Command {
  const events = new Command("events").description("platform events: unknown faces, low-confidence matches, devices down, security alerts");

  events.command("tail")
    .description("print the latest events, then follow new ones until Ctrl-C (--no-follow: print and exit)")
    .option("-t, --type <type>", "only this event type, e.g. UNKNOWN_FACE (repeatable)", collect, [])
    .addOption(new Option("--min-severity <severity>", "only at least this severity").choices(SEVERITIES))
    .option("-n, --lines <n>", "how many recent events to print first", "10")
    .option("--no-follow", "exit after the recent events")
    .addHelpText("after", "\nWith --json, one JSON event per line.")
    .action(withMesh<{ type: string[]; minSeverity?: string; lines: string; follow: boolean }>(async ({ conn, out }, opts) => {
      const lines = Number(opts.lines);
      if (!Number.isInteger(lines) || lines < 0 || lines > 500) throw usageError(`--lines: must be 0–500 (got "${opts.lines}")`);
      const minSeverity = opts.minSeverity ? Severity[opts.minSeverity.toUpperCase() as keyof typeof Severity] : Severity.UNSPECIFIED;
      const types = opts.type.map((t) => t.toUpperCase());
      const service = conn.client(AuditService);
      const stop = stopSignal();
      // Subscribed before listing, so nothing falls between the two; duplicates are skipped by id.
      const stream = opts.follow ? conn.streamClient(AuditService).subscribeNotifications({ types, minSeverity }, { signal: stop.signal })[Symbol.asyncIterator]() : undefined;
      const first = stream?.next();
      const seen = new Set<string>();
      if (lines > 0) {
        const { events: recent } = await service.listEvents({ type: types.length === 1 ? types[0] : "", minSeverity, page: { pageSize: types.length > 1 ? 500 : lines } });
        for (const event of recent.filter((e) => types.length === 0 || types.includes(e.type)).slice(0, lines).reverse()) {
          seen.add(event.id);
          printEvent(out, event);
        }
      }
      if (!stream || !first) return;
      out.note("following new events; Ctrl-C stops");
      try {
        for (let next = await first; !next.done; next = await stream.next()) {
          if (seen.has(next.value.event!.id)) continue;
          seen.add(next.value.event!.id);
          printEvent(out, next.value.event!);
        }
      } catch (err) {
        if (!(stop.signal.aborted && err instanceof AppError && err.code === status.CANCELLED)) throw err;
      }
    }));

  return events;
}
