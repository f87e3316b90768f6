import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createBus, type Bus, type BusMessage } from "../../services/runtime/bus/bus.js";
import { STREAMS } from "../../services/runtime/bus/streams.js";
import { createLogger } from "../../services/runtime/logger.js";
import { Outbox, type Publisher } from "../../agent/src/transport/outbox.js";
import { Spool, type OutgoingMessage } from "../../agent/src/transport/spool.js";
import { OwnNatsServer, waitFor } from "./support/nats-server.js";

const logger = createLogger(process.env.LOG_LEVEL ?? "silent");
const message = (n: number): OutgoingMessage => ({ subject: "frames.org.dev", msgId: `m${n}`, data: new TextEncoder().encode(`payload ${n}`) });

/** Publishes straight to a real bus, as NatsLink does minus the device token. */
const busPublisher = (bus: Bus): Publisher => ({ publish: async (m) => void (await bus.publish(m.subject, m.data, { msgId: m.msgId })) });

describe("agent outbox: NATS outage → spool → replay in order; restart resumes the spool", function () {
  this.timeout(60_000);
  let nats: OwnNatsServer;
  let bus: Bus;
  let dir: string;

  before(async () => {
    nats = await OwnNatsServer.start();
    bus = await createBus({ url: nats.url, namespace: "agenttest", logger, requestTimeoutMs: 500 });
    await bus.ensureStream(STREAMS.frames);
  });
  after(async () => {
    await bus?.close();
    await nats?.stop();
  });
  beforeEach(async () => (dir = await mkdtemp(path.join(tmpdir(), "agent-outbox-"))));
  afterEach(() => rm(dir, { recursive: true, force: true }));

  async function received(count: number): Promise<string[]> {
    const seen: BusMessage[] = [];
    const consumer = bus.consume({ stream: STREAMS.frames.name, durable: "outbox-test" }, async (batch) => void seen.push(...batch));
    try {
      await waitFor(() => seen.length >= count, `${count} messages in FRAMES`);
    } finally {
      await consumer.stop();
    }
    return seen.map((m) => m.msgId!);
  }

  it("publishes while NATS is up, spools without blocking while it is down, replays oldest first when it is back", async () => {
    const spool = await Spool.open(dir, 1024 * 1024);
    const states: boolean[] = [];
    const outbox = new Outbox(spool, busPublisher(bus), { memoryQueue: 8, retryMs: 100, logger, onStateChange: (online) => states.push(online) });
    for (let i = 1; i <= 3; i++) outbox.enqueue(message(i));
    await outbox.drained(10_000);
    assert.equal(outbox.published, 3);

    await nats.down();
    const started = Date.now();
    for (let i = 4; i <= 10; i++) outbox.enqueue(message(i));
    assert.ok(Date.now() - started < 50, "enqueue never waits for the bus");
    await waitFor(() => !outbox.isOnline && spool.size === 7, "all of 4..10 in the spool");
    assert.equal(outbox.published, 3);

    await nats.resume();
    await outbox.drained(30_000);
    assert.equal(outbox.published, 10);
    assert.deepEqual(states, [false, true]);
    assert.deepEqual(await received(10), ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10"]);
    await outbox.close(1_000);
  });

  it("spools what is in flight on close while offline, and a new outbox on the same spool sends it after a restart", async () => {
    await nats.down();
    const first = new Outbox(await Spool.open(dir, 1024 * 1024), busPublisher(bus), { memoryQueue: 8, retryMs: 100, logger });
    for (let i = 1; i <= 4; i++) first.enqueue(message(i));
    await first.close(200);
    const reopened = await Spool.open(dir, 1024 * 1024);
    assert.equal(reopened.size, 4, "nothing lost on shutdown");

    await nats.resume();
    const second = new Outbox(reopened, busPublisher(bus), { memoryQueue: 8, retryMs: 100, logger });
    second.enqueue(message(5));
    await second.drained(30_000);
    assert.deepEqual(await received(5), ["m1", "m2", "m3", "m4", "m5"]);
    await second.close(1_000);
  });
});
