import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFile, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AttendanceService, EventType } from "../../gen/rollcall/attendance/v1/attendance_pb.js";
import { SERVICE_MODULES } from "../../services/modules.js";
import { ADMIN_EMAIL, ADMIN_PASSWORD, startIdentityMesh, type IdentityMesh } from "../identity/mesh-fixture.js";
import { FACES_DIR, MODELS_DIR } from "../vision/support.js";
import { CliRunner, REPO, ROLLCALL_BIN, runProcess } from "./support.js";

interface Verdict { user: string; file: string; verdict: string; reason?: string }

const eventually = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
};

describe("rollcall CLI: enrol, attendance, events, audit (whole mesh)", function () {
  this.timeout(180_000);
  let mesh: IdentityMesh;
  let cli: CliRunner;
  let people: string;

  before(async () => {
    mesh = await startIdentityMesh({ ROLLCALL_MODELS_DIR: MODELS_DIR, ROLLCALL_LOCKOUT_THRESHOLD: "2" }, SERVICE_MODULES);
    cli = await CliRunner.create(mesh.target);
    await cli.login(ADMIN_EMAIL, ADMIN_PASSWORD);
    for (const name of ["ana", "ben"]) {
      await cli.ok(["user", "add", name, "-e", `${name}@example.com`, "--first-name", name, "--last-name", "Test", "--password-stdin"], { input: "Very-secret-42-pass" });
    }
    people = path.join(cli.dir, "people");
    const photos: Record<string, string[]> = { ana: ["identities/img1.jpg", "identities/img2.jpg", "noface/apple.jpg"], ben: ["identities/img8.jpg"], ghost: ["identities/img20.jpg"] };
    for (const [person, files] of Object.entries(photos)) {
      await mkdir(path.join(people, person), { recursive: true });
      for (const file of files) await copyFile(path.join(FACES_DIR, file), path.join(people, person, path.basename(file)));
    }
  });
  after(async () => {
    await cli?.dispose();
    await mesh?.stop();
  });

  describe("enrol", () => {
    it("enrols a folder of people with a verdict per photo and a summary; unknown users fail (exit 7)", async () => {
      const result = await cli.run(["enrol", "--dir", people]);
      assert.equal(result.code, 7, result.stderr);
      assert.match(result.stdout, /ana .*img1\.jpg: accepted/);
      assert.match(result.stdout, /ana .*img2\.jpg: accepted/);
      assert.match(result.stdout, /ana .*apple\.jpg: rejected NO_FACE/);
      assert.match(result.stdout, /ben .*img8\.jpg: accepted/);
      assert.match(result.stdout, /ghost .*img20\.jpg: failed NO_SUCH_USER/);
      assert.match(result.stdout, /3 people, 5 photos: 3 accepted, 1 rejected, 0 skipped \(already enrolled\), 1 failed/);
      assert.doesNotMatch(result.stderr, /\[#/, "no progress bar without a terminal");
    });

    it("skips photos already enrolled when re-run (by sha256), with a JSON report", async () => {
      const result = await cli.run(["--json", "enrol", "ana", path.join(people, "ana", "img1.jpg"), path.join(people, "ana", "img2.jpg")]);
      assert.equal(result.code, 0, result.stderr);
      const report = JSON.parse(result.stdout) as { verdicts: Verdict[]; faces: Record<string, number>; summary: Record<string, number> };
      assert.deepEqual(report.verdicts.map((v) => [path.basename(v.file), v.verdict, v.reason]), [["img1.jpg", "skipped", "ALREADY_ENROLLED"], ["img2.jpg", "skipped", "ALREADY_ENROLLED"]]);
      assert.equal(report.faces.ana, 2);
      assert.deepEqual(report.summary, { people: 1, photos: 2, accepted: 0, rejected: 0, skipped: 2, failed: 0 });
    });

    it("draws a progress bar on a terminal (under a pseudo-terminal from script(1))", async () => {
      const folder = path.join(cli.dir, "pty-people");
      for (const [person, file] of [["ana", "img1.jpg"], ["ana", "img2.jpg"], ["ben", "img8.jpg"]] as const) {
        await mkdir(path.join(folder, person), { recursive: true });
        await copyFile(path.join(people, person, file), path.join(folder, person, file));
      }
      const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;
      const command = [process.execPath, ROLLCALL_BIN, "enrol", "--dir", folder].map(quote).join(" ");
      // script(1) merges stdout and stderr on the terminal it makes; -e returns the command's exit code.
      const result = await runProcess("script", ["-qec", command, "/dev/null"], {
        cwd: REPO, env: { PATH: process.env.PATH ?? "", HOME: cli.dir, ROLLCALL_ADDR: cli.addr, ROLLCALL_CONFIG: cli.configFile },
      });
      assert.equal(result.code, 0, result.stdout);
      const bar = (done: number, label: string) => `\r\x1b[2K[${"#".repeat(done * 10)}${".".repeat(30 - done * 10)}] ${done}/3 ${label}`;
      for (const step of [bar(0, ""), bar(1, "ana img1.jpg"), bar(2, "ana img2.jpg"), bar(3, "ben img8.jpg")]) {
        assert.ok(result.stdout.includes(step), `${JSON.stringify(step)} missing from ${JSON.stringify(result.stdout)}`);
      }
      assert.match(result.stdout, /ben .*img8\.jpg: skipped ALREADY_ENROLLED/);
      // The bar is cleared before the summary, which stays on the screen.
      assert.ok(result.stdout.includes(`${bar(3, "ben img8.jpg")}\r\x1b[2K2 people, 3 photos: 0 accepted, 0 rejected, 3 skipped`), JSON.stringify(result.stdout));
    });

    it("reports usage errors, missing files and unknown users", async () => {
      assert.equal((await cli.run(["enrol", "ana"])).code, 1);
      assert.equal((await cli.run(["enrol", "--dir", path.join(cli.dir, "nowhere")])).code, 2);
      const missing = await cli.run(["enrol", "ana", path.join(cli.dir, "nope.jpg")]);
      assert.equal(missing.code, 7);
      assert.match(missing.stdout, /nope\.jpg: failed UNREADABLE/);
    });
  });

  describe("attendance", () => {
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10); // the default organisation is on UTC
    let benId: string;

    before(async () => {
      const token = await mesh.adminToken();
      const attendance = mesh.client(AttendanceService, token);
      const ana = JSON.parse((await cli.ok(["--json", "user", "show", "ana"])).stdout) as { id: string };
      await attendance.recordManualEvent({ userId: ana.id, eventType: EventType.IN, eventTime: timestampFromDate(new Date(Date.now() - 60_000)), reason: "forgot the badge" });
      // Manual events on a past day close that day into a record (see the attendance closer).
      benId = (JSON.parse((await cli.ok(["--json", "user", "show", "ben"])).stdout) as { id: string }).id;
      for (const [eventType, at] of [[EventType.IN, "09:00"], [EventType.OUT, "17:30"]] as const) {
        await attendance.recordManualEvent({ userId: benId, eventType, eventTime: timestampFromDate(new Date(`${yesterday}T${at}:00Z`)), reason: "paper timesheet" });
      }
    });

    it("shows today's attendance, who is in, and a report as table, JSON and CSV", async () => {
      const today = await eventually("ana in today", async () => {
        const json = await cli.json<{ people: { username: string; currentlyIn: boolean }[] }>(["attendance", "today"]);
        return json.people.find((p) => p.username === "ana" && p.currentlyIn);
      });
      assert.ok(today);
      assert.match((await cli.ok(["attendance", "today"])).stdout, /ana\s+Test ana\s+in\s+\d{4}-/);
      assert.match((await cli.ok(["attendance", "today", "ana"])).stdout, /IN\s+MANUAL\s+100\.00/);
      const present = await cli.json<{ users: { username: string }[] }>(["attendance", "who-is-in"]);
      assert.deepEqual(present.users.map((u) => u.username), ["ana"]);
      const date = new Date().toISOString().slice(0, 10);
      const csv = await cli.ok(["attendance", "report", "--from", date, "--to", date, "--csv"]);
      assert.match(csv.stdout, /^attendance_date,user_id,employee_code,full_name/);
      const bad = await cli.run(["attendance", "report", "--from", "2026-13-45", "--to", date]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /from_date/);
    });

    it("reports a closed day as a table, JSON and CSV", async () => {
      const today = new Date().toISOString().slice(0, 10);
      const range = ["attendance", "report", "--from", yesterday, "--to", today];
      const table = (await cli.ok(range)).stdout.split("\n");
      assert.match(table[0]!, /^DATE\s+USER\s+FIRST IN\s+LAST OUT\s+MINUTES\s+OPEN\s+SOURCE$/);
      assert.deepEqual(table.slice(2).filter(Boolean).map((row) => row.split(/\s+/)),
        [[yesterday, "ben", `${yesterday}T09:00:00Z`, `${yesterday}T17:30:00Z`, "510", "no", "MANUAL"]]);

      const json = await cli.json<{ from: string; to: string; records: Record<string, unknown>[] }>(range);
      assert.deepEqual([json.from, json.to], [yesterday, today]);
      assert.equal(json.records.length, 1);
      const { id, organizationId, createdAt, updatedAt, ...record } = json.records[0]!;
      assert.ok(id && organizationId && createdAt && updatedAt);
      assert.deepEqual(record, {
        userId: benId, attendanceDate: yesterday, firstInTime: `${yesterday}T09:00:00Z`, lastOutTime: `${yesterday}T17:30:00Z`,
        totalMinutes: 510, openInterval: false, source: "SOURCE_MANUAL", confidence: 100,
      });

      const csv = (await cli.ok([...range, "--csv"])).stdout;
      assert.equal(csv, [
        "attendance_date,user_id,employee_code,full_name,department,first_in_time,last_out_time,total_minutes,open_interval,source,confidence",
        `${yesterday},${benId},,Test ben,,${yesterday}T09:00:00+00:00,${yesterday}T17:30:00+00:00,510,false,MANUAL,100.00`,
        "",
      ].join("\r\n"));
    });
  });

  describe("events and audit", () => {
    it("follows new events until Ctrl-C", async () => {
      const child = spawn(process.execPath, [ROLLCALL_BIN, "events", "tail", "--type", "LOGIN_LOCKOUT", "-n", "0"], {
        cwd: REPO, env: { PATH: process.env.PATH ?? "", ROLLCALL_ADDR: cli.addr, ROLLCALL_CONFIG: cli.configFile },
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      try {
        await eventually("the subscription", async () => (stderr.includes("following new events") ? true : undefined));
        for (let i = 0; i < 3; i++) await mesh.login("ben", "wrong-password-x").catch(() => undefined);
        await eventually("a LOGIN_LOCKOUT line", async () => (/LOGIN_LOCKOUT/.test(stdout) ? true : undefined));
        assert.match(stdout, /WARNING\s+LOGIN_LOCKOUT/);
      } finally {
        child.kill("SIGINT");
      }
      assert.equal(await exited, 0, stderr);
      const recent = await cli.ok(["--json", "events", "tail", "--type", "LOGIN_LOCKOUT", "--no-follow"]);
      assert.equal(JSON.parse(recent.stdout.trim().split("\n")[0]!).type, "LOGIN_LOCKOUT");
    });

    it("tails the audit log and verifies its chain", async () => {
      const rows = await eventually("audit rows", async () => {
        const result = await cli.ok(["--json", "audit", "tail", "-n", "50"]);
        const lines = result.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as { action: string });
        return lines.some((l) => l.action.startsWith("user.")) ? lines : undefined;
      });
      assert.ok(rows.length > 0);
      assert.match((await cli.ok(["audit", "tail", "-n", "5"])).stdout, /#\d+\s+SUCCESS/);
      const verified = await cli.json<{ ok: boolean; rowsChecked: string }>(["audit", "verify"]);
      assert.equal(verified.ok, true);
      assert.ok(Number(verified.rowsChecked) > 0);
      assert.equal((await cli.run(["audit", "verify", "--from", "yesterday-ish"])).code, 1);
    });

    it("names the first broken row and exits 7 when a row was altered in the database", async () => {
      const { organizationId } = await cli.json<{ organizationId: string }>(["whoami"]);
      const sql = <T>(query: string, bind: unknown[]) => mesh.host.db.sequelize.query(query, { bind, type: "SELECT" as never }) as unknown as Promise<T[]>;
      const rows = await sql<{ id: string; detail: string }>(`SELECT id::text, detail::text FROM audit.audit_logs WHERE organization_id = $1 ORDER BY audit_logs.id`, [organizationId]);
      assert.ok(rows.length >= 3, `only ${rows.length} audit rows`);
      const victim = rows[1]!;
      // As the database login (a superuser, outside the append-only runtime roles): an intruder's edit.
      await sql(`UPDATE audit.audit_logs SET detail = '{"tampered":true}' WHERE id = $1`, [victim.id]);
      try {
        const broken = await cli.run(["audit", "verify"]);
        assert.equal(broken.code, 7, broken.stderr);
        assert.match(broken.stdout, new RegExp(`^audit chain BROKEN at row #${victim.id}: hash mismatch.* \\(1 row checked\\)$`, "m"));
        assert.match(broken.stderr, /the audit chain does not verify/);
        const json = await cli.run(["--json", "audit", "verify"]);
        assert.equal(json.code, 7);
        const report = JSON.parse(json.stdout) as { ok: boolean; rowsChecked: string; firstBrokenId: string; reason: string };
        assert.deepEqual([report.ok, report.firstBrokenId, report.rowsChecked], [false, victim.id, "1"]);
        assert.match(report.reason, /hash mismatch/);
      } finally {
        await sql(`UPDATE audit.audit_logs SET detail = $2::jsonb WHERE id = $1`, [victim.id, victim.detail]);
      }
      assert.equal((await cli.run(["audit", "verify"])).code, 0);
    });

    it("writes no result on stdout for a denied caller (exit 3)", async () => {
      const ben = await cli.other();
      try {
        await ben.login("ana", "Very-secret-42-pass");
        const result = await ben.run(["audit", "verify"]);
        assert.equal(result.code, 3, result.stderr);
        assert.equal(result.stdout, "");
      } finally {
        await ben.dispose();
      }
    });
  });
});
