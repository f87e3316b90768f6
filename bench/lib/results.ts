import { appendFile, readFile, writeFile } from "node:fs/promises";
import { cpus, loadavg, totalmem } from "node:os";
import { fileURLToPath } from "node:url";

const RESULTS_FILE = fileURLToPath(new URL("../RESULTS.md", import.meta.url));

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${process.platform}`;
}

/** A Markdown table from rows of equal keys. */
export function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return "";
  const keys = Object.keys(rows[0]!);
  const cell = (v: string | number) => (typeof v === "number" ? formatNumber(v) : v);
  return [
    `| ${keys.join(" | ")} |`,
    `|${keys.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${keys.map((k) => cell(r[k] ?? "")).join(" | ")} |`),
  ].join("\n");
}

export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString("en-US");
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/**
 * Prints a benchmark's section and, with --record, appends it to bench/RESULTS.md with the date,
 * the machine and the command that produced it.
 */
export async function publish(title: string, body: string, argv: string[] = process.argv): Promise<void> {
  const command = `npm run ${process.env.npm_lifecycle_event ?? "bench"}${argv.slice(2).length ? " -- " + argv.slice(2).join(" ") : ""}`;
  // The load average says whether anything else competed for the cores while this ran.
  const load = loadavg().map((l) => l.toFixed(2)).join(", ");
  const section = `\n## ${title}\n\n- date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC\n- machine: ${machine()}; load average at the end ${load}\n- command: \`${command}\`\n\n${body}\n`;
  console.log(section);
  if (argv.includes("--record")) {
    const existing = await readFile(RESULTS_FILE, "utf8").catch(() => undefined);
    if (existing === undefined) await writeFile(RESULTS_FILE, "# Benchmark results\n\nEach section is appended by a benchmark run with `--record`; newest last.\n");
    await appendFile(RESULTS_FILE, section);
  }
}
