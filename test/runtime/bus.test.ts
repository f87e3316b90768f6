import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { status } from "@grpc/grpc-js";
import {
  createBus, subjects, type BatchHandler, type Bus, type BusMessage, type ConsumeSpec, type Consumer,
} from "../../services/runtime/bus/bus.js";
import { Namespace, patternsOverlap, subjectMatches } from "../../services/runtime/bus/subjects.js";
import type { AppError } from "../../services/runtime/errors.js";
import { openTestBus, testBusKinds, testBusLogger, type TestBus } from "../support/bus.js";

const text = (value: string) => new TextEncoder().encode(value);
const decode = (data: Uint8Array) => new TextDecoder().decode(data);
const hasCode = (code: status) => (err: AppError) => err.code === code;

async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

function gate(): { opened: Promise<void>; open(): void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

for (const kind of testBusKinds()) {
  describe(`Bus (${kind})`, () => {
    let testBus: TestBus;
    let bus: Bus;
    const consumers: Consumer[] = [];

    /** Starts a consumer that records every message it is handed; stopped after each test. */
    function record(spec: ConsumeSpec, handler: BatchHandler = async () => {}) {
      const received: BusMessage[] = [];
      const consumer = bus.consume(spec, (msgs) => {
        received.push(...msgs);
        return handler(msgs);
      });
      consumers.push(consumer);
      return { consumer, received };
    }

    beforeEach(async () => {
      testBus = await openTestBus(kind);
      bus = testBus.bus;
      await bus.ensureStream({ name: "ORDERS", subjects: ["orders.>"], retention: "limits" });
    });
    afterEach(async () => {
      await Promise.all(consumers.splice(0).map((consumer) => consumer.stop()));
      await testBus.cleanup();
    });

    it("publishes durably and delivers what was published to a pull consumer", async () => {
      const first = await bus.publish("orders.o1.created", text("a"), { msgId: "m1", headers: { "trace-id": "t1" } });
      await bus.publish("orders.o1.created", text("b"));
      await bus.publish("orders.o2.paid", text("c"));
      assert.deepEqual(first, { seq: 1, duplicate: false });

      const batchSizes: number[] = [];
      const { consumer, received } = record({ stream: "ORDERS", durable: "reader" }, async (msgs) => void batchSizes.push(msgs.length));
      await consumer.ready;
      await waitFor("3 messages", () => received.length === 3);

      assert.deepEqual(received.map((m) => [m.subject, decode(m.data), m.seq, m.deliveryCount]), [
        ["orders.o1.created", "a", 1, 1],
        ["orders.o1.created", "b", 2, 1],
        ["orders.o2.paid", "c", 3, 1],
      ]);
      assert.deepEqual(received[0]!.headers, { "trace-id": "t1" });
      assert.equal(received[0]!.msgId, "m1");
      assert.equal(received[1]!.msgId, undefined);
      assert.ok(Math.abs(received[0]!.receivedAt.getTime() - Date.now()) < 5_000);
      assert.deepEqual(batchSizes, [3], "messages waiting in the stream arrive as one batch");
      await consumer.stop();
      assert.deepEqual({ ...consumer.counters }, { delivered: 3, acked: 3, retried: 0, rejected: 0, terminated: 0, failedBatches: 0 });
    });

    it("stores a repeated msgId once within the duplicate window", async () => {
      const first = await bus.publish("orders.o1.created", text("a"), { msgId: "order-1" });
      const again = await bus.publish("orders.o1.created", text("a"), { msgId: "order-1" });
      assert.deepEqual(again, { seq: first.seq, duplicate: true });
      assert.equal((await bus.streamInfo("ORDERS")).messages, 1);

      const { received } = record({ stream: "ORDERS", durable: "reader" });
      await waitFor("the message", () => received.length === 1);
      await sleep(100);
      assert.equal(received.length, 1);
    });

    it("redelivers a batch whose handler threw, with deliveryCount 2", async () => {
      await bus.publish("orders.o1.created", text("a"));
      let calls = 0;
      const { consumer, received } = record({ stream: "ORDERS", durable: "flaky", retryDelayMs: 50 }, async () => {
        if (++calls === 1) throw new Error("database hiccup");
      });
      await waitFor("the ack after a retry", () => consumer.counters.acked === 1);
      assert.deepEqual(received.map((m) => [m.seq, m.deliveryCount]), [[1, 1], [1, 2]]);
      assert.equal(consumer.counters.failedBatches, 1);
      assert.equal(consumer.counters.retried, 1);
    });

    it("terminates a message that fails on its last allowed delivery", async () => {
      await bus.publish("orders.o1.created", text("poison"));
      const { consumer, received } = record({ stream: "ORDERS", durable: "doomed", maxDeliver: 3, retryDelayMs: 20 }, async () => {
        throw new Error("cannot parse");
      });
      await waitFor("termination", () => consumer.counters.terminated === 1);
      await sleep(200);
      assert.deepEqual(received.map((m) => m.deliveryCount), [1, 2, 3]);
      assert.equal(consumer.counters.retried, 2);
    });

    it("settles each message by the outcome the handler returns", async () => {
      for (const value of ["ok", "again", "bad"]) await bus.publish("orders.o1.created", text(value));
      const spec = { stream: "ORDERS", durable: "picky", retryDelayMs: 20, ackWaitMs: 300 };
      const { consumer, received } = record(spec, async (msgs) =>
        msgs.map((m) => (decode(m.data) === "again" && m.deliveryCount === 1 ? "retry" : decode(m.data) === "bad" ? "reject" : "ack")),
      );
      await waitFor("the retried message's ack", () => consumer.counters.acked === 2);
      await sleep(500); // past ackWait: a rejected message must not come back
      assert.deepEqual(received.map((m) => [decode(m.data), m.deliveryCount]), [["ok", 1], ["again", 1], ["bad", 1], ["again", 2]]);
      assert.deepEqual({ ...consumer.counters }, { delivered: 4, acked: 2, retried: 1, rejected: 1, terminated: 0, failedBatches: 0 });
    });

    it("removes acknowledged messages from a workqueue stream and keeps them in a limits stream", async () => {
      await bus.ensureStream({ name: "JOBS", subjects: ["jobs.>"], retention: "workqueue" });
      for (const n of [1, 2, 3]) {
        await bus.publish(`jobs.resize.${n}`, text(`job ${n}`));
        await bus.publish(`orders.o${n}.created`, text(`order ${n}`));
      }
      const jobs = record({ stream: "JOBS", durable: "worker" });
      const orders = record({ stream: "ORDERS", durable: "reader" });
      await waitFor("all messages acked", () => jobs.consumer.counters.acked === 3 && orders.consumer.counters.acked === 3);
      await waitFor("the work queue to empty", async () => (await bus.streamInfo("JOBS")).messages === 0);
      assert.equal((await bus.streamInfo("ORDERS")).messages, 3);

      const rival = bus.consume({ stream: "JOBS", durable: "rival" }, async () => {});
      consumers.push(rival);
      await assert.rejects(rival.ready, hasCode(status.FAILED_PRECONDITION));
    });

    it("gives each durable consumer of a limits stream every message", async () => {
      for (const n of [1, 2, 3]) await bus.publish(`orders.o${n}.created`, text(`order ${n}`));
      const billing = record({ stream: "ORDERS", durable: "billing" });
      const shipping = record({ stream: "ORDERS", durable: "shipping", batchSize: 1 });
      await waitFor("both consumers", () => billing.received.length === 3 && shipping.received.length === 3);
      assert.deepEqual(billing.received.map((m) => m.seq), [1, 2, 3]);
      assert.deepEqual(shipping.received.map((m) => m.seq), [1, 2, 3]);
    });

    it("delivers only a filtered consumer's subjects", async () => {
      await bus.publish("orders.o1.created", text("a"));
      await bus.publish("orders.o1.paid", text("b"));
      await bus.publish("orders.o2.paid", text("c"));
      const { received } = record({ stream: "ORDERS", durable: "payments", filterSubject: "orders.*.paid" });
      await waitFor("paid orders", () => received.length === 2);
      await sleep(100);
      assert.deepEqual(received.map((m) => decode(m.data)), ["b", "c"]);
    });

    it("resumes a durable consumer where it stopped: no acked message again, new ones delivered", async () => {
      await bus.publish("orders.o1.created", text("first"));
      await bus.publish("orders.o1.created", text("second"));
      const before = record({ stream: "ORDERS", durable: "resumer" });
      await waitFor("the first two", () => before.consumer.counters.acked === 2);
      await before.consumer.stop();

      await bus.publish("orders.o1.created", text("third"));
      const after = record({ stream: "ORDERS", durable: "resumer" });
      await waitFor("the third", () => after.received.length === 1);
      await sleep(200);
      assert.deepEqual(after.received.map((m) => [decode(m.data), m.seq, m.deliveryCount]), [["third", 3, 1]]);
    });

    it("redelivers to another member of the durable when a handler outlives ackWait", async () => {
      await bus.publish("orders.o1.created", text("slow"));
      const release = gate();
      const spec = { stream: "ORDERS", durable: "workers", ackWaitMs: 300, batchSize: 1 };
      const stuck = record(spec, () => release.opened);
      await waitFor("the stuck handler", () => stuck.received.length === 1);
      const started = Date.now();
      const helper = record(spec);
      await waitFor("the redelivery", () => helper.received.length === 1);
      const waited = Date.now() - started;
      release.open();
      assert.equal(helper.received[0]!.deliveryCount, 2);
      assert.ok(waited >= 150 && waited < 1_500, `redelivered after ${waited} ms`);
    });

    it("stop() waits for the handler in flight, which then settles its batch", async () => {
      await bus.publish("orders.o1.created", text("a"));
      let finished = false;
      const handlerStarted = gate();
      const { consumer } = record({ stream: "ORDERS", durable: "draining" }, async () => {
        handlerStarted.open();
        await sleep(200);
        finished = true;
      });
      await handlerStarted.opened;
      await consumer.stop();
      assert.equal(finished, true);
      assert.equal(consumer.counters.acked, 1);

      const again = record({ stream: "ORDERS", durable: "draining" });
      await again.consumer.ready;
      await sleep(200);
      assert.equal(again.received.length, 0, "the acked message is not redelivered");
    });

    it("delivers core messages to wildcard subscribers without storing them", async () => {
      const seen: Record<string, string[]> = { one: [], any: [], rest: [] };
      const subs = [
        bus.subscribe("authz.changed.o1", (m) => seen.one!.push(m.subject)),
        bus.subscribe("authz.changed.*", (m) => seen.any!.push(m.subject)),
        bus.subscribe("health.>", (m) => seen.rest!.push(`${m.subject}=${decode(m.data)}`)),
      ];
      if (kind === "nats") await bus.ping(); // the server has the subscriptions once a round trip is done
      for (const subject of ["authz.changed.o1", "authz.changed.o2", "authz.changed.o1.x", "health", "health.vision.w1"]) {
        bus.publishEphemeral(subject, text("up"));
      }
      await waitFor("subscribers", () => seen.any!.length === 2 && seen.rest!.length === 1);
      await sleep(50);
      assert.deepEqual(seen, { one: ["authz.changed.o1"], any: ["authz.changed.o1", "authz.changed.o2"], rest: ["health.vision.w1=up"] });

      subs.forEach((sub) => sub.unsubscribe());
      bus.publishEphemeral("authz.changed.o1", text("late"));
      await sleep(50);
      assert.equal(seen.one!.length, 1);
      await assert.rejects(bus.publish("authz.changed.o1", text("x")), hasCode(status.UNAVAILABLE));
    });

    it("refuses a publish no stream accepts, and a consumer on a missing stream", async () => {
      await assert.rejects(bus.publish("nowhere.o1", text("x")), hasCode(status.UNAVAILABLE));
      const orphan = bus.consume({ stream: "MISSING", durable: "d" }, async () => {});
      consumers.push(orphan);
      await assert.rejects(orphan.ready, hasCode(status.FAILED_PRECONDITION));
      await assert.rejects(bus.streamInfo("MISSING"), hasCode(status.NOT_FOUND));
      assert.throws(() => bus.publishEphemeral("bad.*", text("x")), hasCode(status.INVALID_ARGUMENT));
    });

    it("updates a stream's limits, but refuses a retention change or overlapping subjects", async () => {
      await bus.ensureStream({ name: "ORDERS", subjects: ["orders.>"], retention: "limits", maxBytes: 1_000_000 });
      await assert.rejects(
        bus.ensureStream({ name: "ORDERS", subjects: ["orders.>"], retention: "workqueue" }),
        hasCode(status.FAILED_PRECONDITION),
      );
      await assert.rejects(
        bus.ensureStream({ name: "OTHER", subjects: ["orders.o1.*"], retention: "limits" }),
        hasCode(status.FAILED_PRECONDITION),
      );
    });

    it("bounds a stream by maxBytes and maxAge, dropping the oldest messages", async () => {
      await bus.ensureStream({ name: "FRAMES", subjects: ["frames.>"], retention: "workqueue", maxBytes: 4_000, maxAgeMs: 400 });
      for (let i = 0; i < 30; i++) await bus.publish(subjects.frames("o1", "cam1"), new Uint8Array(200));
      const full = await bus.streamInfo("FRAMES");
      assert.ok(full.bytes <= 4_000 && full.messages < 30 && full.firstSeq > 1, JSON.stringify(full));
      assert.equal(full.lastSeq, 30);
      await waitFor("expiry", async () => (await bus.streamInfo("FRAMES")).messages === 0, 2_500);
    });
  });
}

describe("bus subjects", () => {
  it("matches NATS wildcards", () => {
    assert.equal(subjectMatches("a.*.c", "a.b.c"), true);
    assert.equal(subjectMatches("a.*", "a.b.c"), false);
    assert.equal(subjectMatches("a.>", "a.b.c"), true);
    assert.equal(subjectMatches("a.>", "a"), false);
    assert.equal(subjectMatches("a.b", "a.b"), true);
    assert.equal(subjectMatches("a.b", "a.b.c"), false);
  });

  it("detects overlapping patterns", () => {
    assert.equal(patternsOverlap("frames.>", "frames.o1.*"), true);
    assert.equal(patternsOverlap("a.*.c", "a.b.*"), true);
    assert.equal(patternsOverlap("a.b", "a.c"), false);
    assert.equal(patternsOverlap("a.>", "a"), false);
    assert.equal(patternsOverlap("a.*", "a.b.c"), false);
  });

  it("namespaces subjects and stream names", () => {
    const ns = new Namespace("t12x-ab");
    assert.equal(ns.subject("frames.o.d"), "t12x-ab.frames.o.d");
    assert.equal(ns.relative("t12x-ab.frames.o.d"), "frames.o.d");
    assert.equal(ns.stream("FRAMES"), "T12X-AB_FRAMES");
    assert.throws(() => new Namespace("a.b"), hasCode(status.INVALID_ARGUMENT));
  });

  it("builds the data model's subjects from safe tokens", () => {
    assert.equal(subjects.frames("org1", "cam-2"), "frames.org1.cam-2");
    assert.equal(subjects.authzChanged("org1"), "authz.changed.org1");
    assert.throws(() => subjects.recognitions("org.*"), hasCode(status.INVALID_ARGUMENT));
  });
});

describe("NatsBus when NATS is unreachable", () => {
  it("fails to open with UNAVAILABLE", async () => {
    const started = Date.now();
    await assert.rejects(createBus({ url: "nats://127.0.0.1:1", logger: testBusLogger, requestTimeoutMs: 1_000 }), (err: AppError) => {
      assert.equal(err.code, status.UNAVAILABLE);
      assert.match(err.message, /cannot connect to NATS at nats:\/\/127\.0\.0\.1:1/);
      return true;
    });
    assert.ok(Date.now() - started < 2_000);
  });
});
