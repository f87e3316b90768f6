import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { ADMIN_EMAIL, ADMIN_PASSWORD, startIdentityMesh, type IdentityMesh } from "../identity/mesh-fixture.js";
import { CliRunner, closedPort } from "./support.js";

interface JsonUser { id: string; username: string; email: string; roles: string[]; banUntil?: string; deletedAt?: string }
interface JsonOrg { id: string; code: string; status: string; statusReason: string }

describe("rollcall CLI: login, org, user", function () {
  this.timeout(120_000);
  let mesh: IdentityMesh;
  let cli: CliRunner;

  before(async () => {
    mesh = await startIdentityMesh();
    cli = await CliRunner.create(mesh.target);
  });
  after(async () => {
    await cli?.dispose();
    await mesh?.stop();
  });

  describe("login and sessions", () => {
    it("refuses commands before login with exit 5 and says to log in", async () => {
      const result = await cli.run(["user", "list"]);
      assert.equal(result.code, 5, result.stderr);
      assert.match(result.stderr, /rollcall login/);
    });

    it("rejects a wrong password with exit 5 and the server's message", async () => {
      const result = await cli.run(["login", "--user", ADMIN_EMAIL], { env: { ROLLCALL_PASSWORD: "wrong-password-1" } });
      assert.equal(result.code, 5, result.stderr);
      assert.match(result.stderr, /rollcall: .+/);
    });

    it("logs in, saves a 0600 session file and answers whoami", async () => {
      const login = JSON.parse((await cli.ok(["--json", "login", "--user", ADMIN_EMAIL, "--password-stdin"], { input: `${ADMIN_PASSWORD}\n` })).stdout);
      assert.equal(login.user.email, ADMIN_EMAIL);
      assert.equal(login.organization, "default");
      const mode = (await stat(cli.configFile)).mode & 0o777;
      assert.equal(mode, 0o600);
      const me = await cli.json<JsonUser>(["whoami"]);
      assert.equal(me.email, ADMIN_EMAIL);
      assert.ok(me.roles.includes("ADMIN"));
    });

    it("refreshes an expired access token with the refresh token", async () => {
      const saved = JSON.parse(await readFile(cli.configFile, "utf8"));
      await writeFile(cli.configFile, JSON.stringify({ ...saved, accessExpiresAt: new Date(Date.now() - 60_000).toISOString() }), { mode: 0o600 });
      const me = await cli.json<JsonUser>(["whoami"]);
      assert.equal(me.email, ADMIN_EMAIL);
      const after = JSON.parse(await readFile(cli.configFile, "utf8"));
      assert.notEqual(after.accessToken, saved.accessToken);
      assert.notEqual(after.refreshToken, saved.refreshToken);
      assert.ok(Date.parse(after.accessExpiresAt) > Date.now());
    });

    it("authenticates with --token or ROLLCALL_TOKEN without a saved session (the flag wins)", async () => {
      const fresh = await cli.other();
      try {
        const token = await mesh.adminToken();
        const byFlag = await fresh.json<JsonUser>(["--token", token, "whoami"]);
        assert.equal(byFlag.email, ADMIN_EMAIL);
        const byEnv = await fresh.json<JsonUser>(["whoami"], { env: { ROLLCALL_TOKEN: token } });
        assert.equal(byEnv.email, ADMIN_EMAIL);
        const orgs = await fresh.json<{ organizations: JsonOrg[] }>(["org", "list"], { env: { ROLLCALL_TOKEN: token } });
        assert.ok(orgs.organizations.some((o) => o.code === "default"), JSON.stringify(orgs));
        const flagOverEnv = await fresh.json<JsonUser>(["--token", token, "whoami"], { env: { ROLLCALL_TOKEN: "not-a-token" } });
        assert.equal(flagOverEnv.email, ADMIN_EMAIL);
        await assert.rejects(stat(fresh.configFile), { code: "ENOENT" }, "a token must not write a session file");

        const bad = await fresh.run(["whoami"], { env: { ROLLCALL_TOKEN: "not-a-token" } });
        assert.equal(bad.code, 5, bad.stderr);
        assert.match(bad.stderr, /--token \/ ROLLCALL_TOKEN/);
        assert.equal(bad.stdout, "");
      } finally {
        await fresh.dispose();
      }
    });

    it("reports a mesh that is down with exit 4 and what to do", async () => {
      const result = await cli.run(["--addr", `127.0.0.1:${await closedPort()}`, "org", "list"]);
      assert.equal(result.code, 4, result.stderr);
      assert.match(result.stderr, /cannot reach the mesh at 127\.0\.0\.1:\d+/);
      assert.match(result.stderr, /rollcall serve/);
    });

    it("prints JSON errors on stderr with --json", async () => {
      const result = await cli.run(["--json", "org", "show", "no-such-org"]);
      assert.equal(result.code, 2);
      const error = JSON.parse(result.stderr).error;
      assert.equal(error.code, "NOT_FOUND");
      assert.equal(error.exitCode, 2);
      assert.equal(result.stdout, "");
    });
  });

  describe("org", () => {
    it("creates an active organisation, lists, suspends, resumes and deletes it", async () => {
      const created = await cli.json<JsonOrg>(["org", "create", "cli-org-a", "--name", "CLI Org A", "--timezone", "Europe/Berlin"]);
      assert.equal(created.status, "ORGANIZATION_STATUS_ACTIVE");
      const listed = await cli.json<{ organizations: JsonOrg[] }>(["org", "list", "--query", "cli-org-a"]);
      assert.deepEqual(listed.organizations.map((o) => o.code), ["cli-org-a"]);
      const table = (await cli.ok(["org", "list", "--status", "active"])).stdout;
      assert.match(table, /^CODE\s+NAME\s+STATUS/m);
      assert.match(table, /cli-org-a\s+CLI Org A\s+ACTIVE/);
      assert.equal((await cli.json<JsonOrg>(["org", "suspend", "cli-org-a", "--reason", "unpaid"])).status, "ORGANIZATION_STATUS_SUSPENDED");
      assert.equal((await cli.json<JsonOrg>(["org", "resume", created.id])).status, "ORGANIZATION_STATUS_ACTIVE");
      assert.equal((await cli.json<JsonOrg>(["org", "delete", "cli-org-a"])).status, "ORGANIZATION_STATUS_PENDING_DEACTIVATION");
    });

    it("maps bad input, duplicates, wrong state and missing organisations to exit codes", async () => {
      const bad = await cli.run(["org", "create", "X!", "--name", "Bad"]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /code/);
      await cli.ok(["org", "create", "cli-org-b", "--name", "B", "--no-activate"]);
      const again = await cli.run(["org", "create", "cli-org-b", "--name", "B"]);
      assert.equal(again.code, 6, again.stderr);
      const resume = await cli.run(["org", "resume", "cli-org-b"]);
      assert.equal(resume.code, 6, resume.stderr);
      const missing = await cli.run(["org", "suspend", "cli-org-zzz", "--reason", "x"]);
      assert.equal(missing.code, 2, missing.stderr);
      const usage = await cli.run(["org", "suspend", "cli-org-b"]);
      assert.equal(usage.code, 1);
      assert.match(usage.stderr, /--reason/);
    });
  });

  describe("user", () => {
    it("adds, lists, bans and deletes a user", async () => {
      const added = await cli.json<JsonUser>(["user", "add", "alice", "-e", "alice@example.com", "--first-name", "Alice", "--last-name", "Liddell", "--department", "Ops"]);
      assert.deepEqual(added.roles, ["USER"]);
      const table = (await cli.ok(["user", "list", "--department", "Ops"])).stdout;
      assert.match(table, /alice\s+Liddell Alice\s+alice@example\.com\s+Ops\s+active/);
      const banned = await cli.json<JsonUser>(["user", "ban", "alice", "--until", "2d", "--reason", "test"]);
      assert.ok(banned.banUntil && Date.parse(banned.banUntil) > Date.now() + 86_400_000);
      const banTable = (await cli.ok(["user", "list", "--query", "alice@example.com"])).stdout;
      assert.match(banTable, /alice .* banned until \d{4}-/);
      const unbanned = await cli.json<JsonUser>(["user", "unban", "alice"]);
      assert.equal(unbanned.banUntil, undefined);
      assert.ok((await cli.json<JsonUser>(["user", "delete", "alice", "--reason", "left"])).deletedAt);
      const missing = await cli.run(["user", "delete", "alice"]);
      assert.equal(missing.code, 2, missing.stderr);
      assert.match(missing.stderr, /user "alice" was not found/);
    });

    it("names the field the server rejected (exit 1)", async () => {
      const result = await cli.run(["user", "add", "bob", "-e", "not-an-email", "--first-name", "Bob", "--last-name", "B"]);
      assert.equal(result.code, 1, result.stderr);
      assert.match(result.stderr, /email/);
      const until = await cli.run(["user", "ban", "bob", "--until", "soon", "--reason", "x"]);
      assert.equal(until.code, 1);
      assert.match(until.stderr, /--until/);
    });

    it("denies a plain user's admin commands with exit 3", async () => {
      await cli.ok(["user", "add", "carol", "-e", "carol@example.com", "--first-name", "Carol", "--last-name", "C", "--password-stdin"], { input: "Tr0ub4dor-&-3-horse" });
      const carol = await cli.other();
      try {
        await carol.login("carol", "Tr0ub4dor-&-3-horse");
        const result = await carol.run(["user", "add", "dave", "-e", "dave@example.com", "--first-name", "Dave", "--last-name", "D"]);
        assert.equal(result.code, 3, result.stderr);
        assert.match(result.stderr, /rollcall check/);
      } finally {
        await carol.dispose();
      }
    });

    it("imports users from CSV, reports every row, and is safe to re-run", async () => {
      const file = path.join(cli.dir, "users.csv");
      await writeFile(file, [
        "username,email,first_name,last_name,roles,department",
        "erin,erin@example.com,Erin,E,OPERATOR,Ops",
        "frank,frank@example.com,Frank,F,,Ops",
        "grace,not-an-email,Grace,G,,Ops",
        "",
      ].join("\n"));
      const first = await cli.run(["--json", "user", "import", file]);
      assert.equal(first.code, 7, first.stderr);
      const report = JSON.parse(first.stdout);
      assert.deepEqual(report.rows.map((r: { line: number; username: string; outcome: string }) => [r.line, r.username, r.outcome]), [
        [2, "erin", "created"], [3, "frank", "created"], [4, "grace", "failed"],
      ]);
      assert.match(report.rows[2].reason, /email/);
      assert.deepEqual(report.summary, { created: 2, skipped: 0, failed: 1 });
      const again = await cli.run(["user", "import", file]);
      assert.equal(again.code, 7);
      assert.match(again.stdout, /line 2 erin: skipped/);
      assert.match(again.stdout, /3 rows: 0 created, 2 skipped \(already there\), 1 failed/);
      const erin = await cli.json<JsonUser>(["user", "show", "erin"]);
      assert.ok(erin.roles.includes("OPERATOR"));
    });

    it("rejects a CSV without the required columns before sending anything (exit 1)", async () => {
      const file = path.join(cli.dir, "bad.csv");
      await writeFile(file, "username,email\nzed,zed@example.com\n");
      const result = await cli.run(["user", "import", file]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /lacks first_name, last_name/);
      const missing = await cli.run(["user", "import", path.join(cli.dir, "nope.csv")]);
      assert.equal(missing.code, 2);
    });
  });
});
