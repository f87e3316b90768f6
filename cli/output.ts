import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { toJson } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/**
 * Where a command's results go: JSON on stdout with --json (one document per command, for
 * scripts), otherwise lines and tables for a person. Progress and notes go to stderr so they
 * never mix with results.
 */
export class Output {
  constructor(readonly json: boolean, private readonly stdout: NodeJS.WriteStream = process.stdout, private readonly stderr: NodeJS.WriteStream = process.stderr) {}

  /** The command's result: `data` as JSON with --json, otherwise whatever `human` prints. */
  result(data: unknown, human: () => void): void {
    if (this.json) this.stdout.write(JSON.stringify(data, null, 2) + "\n");
    else human();
  }

  /** One JSON object per line (streams with --json), or a human line. */
  record(data: unknown, human: string): void {
    this.stdout.write((this.json ? JSON.stringify(data) : human) + "\n");
  }

  line(text = ""): void {
    this.stdout.write(text + "\n");
  }

  /** Progress and notes: stderr, and only for people. */
  note(text: string): void {
    if (!this.json) this.stderr.write(text + "\n");
  }

  get interactive(): boolean {
    return !this.json && Boolean(this.stderr.isTTY);
  }

  get errors(): NodeJS.WriteStream {
    return this.stderr;
  }

  table(headers: string[], rows: string[][], empty = "(none)"): void {
    if (rows.length === 0) {
      this.line(empty);
      return;
    }
    this.line(formatTable(headers, rows));
  }
}

export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const render = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [render(headers), render(widths.map((w) => "-".repeat(w))), ...rows.map(render)].join("\n");
}

/** Proto-JSON (camelCase names, enum names, RFC 3339 times) of a generated message. */
export function protoJson<D extends DescMessage>(schema: D, message: MessageShape<D>): unknown {
  return toJson(schema, message, { alwaysEmitImplicit: true });
}

export function time(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toISOString().replace(/\.\d{3}Z$/, "Z") : "-";
}

/** An enum value's name without its prefix: DEVICE_DIRECTION_IN → IN. */
export function enumName(values: Record<number, string>, value: number, prefix: string): string {
  const name = values[value] ?? String(value);
  return name.startsWith(prefix) ? name.slice(prefix.length) : name;
}
