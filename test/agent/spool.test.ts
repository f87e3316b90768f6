import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Spool, type OutgoingMessage } from "../../agent/src/transport/spool.js";

const message = (n: number, size = 100): OutgoingMessage => ({ subject: "frames.org.dev", msgId: `m${n}`, data: new Uint8Array(size).fill(n % 256) });

describe("agent spool: bounded, oldest dropped and counted, ordered, resumed after a restart", () => {
  let dir: string;
  beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), "agent-spool-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("gives messages back in the order they were appended, byte for byte", async () => {
    const spool = await Spool.open(dir, 1024 * 1024);
    for (let i = 1; i <= 5; i++) await spool.append(message(i, 10 + i));
    const out: OutgoingMessage[] = [];
    while (spool.size > 0) {
      const head = (await spool.peek())!;
      out.push(head.message);
      await spool.remove(head.id);
    }
    assert.deepEqual(out.map((m) => m.msgId), ["m1", "m2", "m3", "m4", "m5"]);
    assert.deepEqual(out[2], message(3, 13));
    assert.equal(spool.bytes, 0);
    assert.deepEqual(await readdir(dir), []);
  });

  it("drops the oldest messages beyond the size cap and counts them", async () => {
    const spool = await Spool.open(dir, 1000);
    for (let i = 1; i <= 20; i++) await spool.append(message(i, 200));
    assert.ok(spool.bytes <= 1000, `spool holds ${spool.bytes} bytes`);
    assert.equal(spool.size + spool.dropped, 20);
    assert.ok(spool.dropped >= 15);
    const head = (await spool.peek())!;
    assert.equal(head.message.msgId, `m${spool.dropped + 1}`, "what is left is the newest, oldest first");
    await spool.append(message(99, 900));
    await spool.remove(head.id);
    assert.equal(spool.size, 1, "a message the cap already dropped is not removed twice");
    assert.equal((await spool.peek())!.message.msgId, "m99");
  });

  it("resumes after a restart: same order, counting on, half-written files discarded", async () => {
    const first = await Spool.open(dir, 1024 * 1024);
    for (let i = 1; i <= 3; i++) await first.append(message(i));
    await writeFile(path.join(dir, "0000000000000004.msg.tmp"), "half written");
    const second = await Spool.open(dir, 1024 * 1024);
    assert.equal(second.size, 3);
    assert.ok(second.oldestAgeMs() >= 0);
    await second.append(message(4));
    const ids: string[] = [];
    while (second.size > 0) {
      const head = (await second.peek())!;
      ids.push(head.message.msgId);
      await second.remove(head.id);
    }
    assert.deepEqual(ids, ["m1", "m2", "m3", "m4"]);
    assert.deepEqual(await readdir(dir), []);
  });
});
