import { randomBytes } from "node:crypto";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createBus, type Bus } from "../../services/runtime/bus/bus.js";
import { Namespace } from "../../services/runtime/bus/subjects.js";
import { createLogger } from "../../services/runtime/logger.js";

export type BusKind = "memory" | "nats";

export interface TestBus {
  bus: Bus;
  kind: BusKind;
  namespace: string;
  /** Closes the bus, then deletes every stream created in its namespace (on NATS). */
  cleanup(): Promise<void>;
}

/** Quiet unless LOG_LEVEL asks otherwise. */
export const testBusLogger = createLogger(process.env.LOG_LEVEL ?? "silent");

/** The memory bus always; NATS too when NATS_URL is set. */
export function testBusKinds(): BusKind[] {
  return process.env.NATS_URL ? ["memory", "nats"] : ["memory"];
}

/** A bus in a namespace of its own, so runs sharing a NATS server never see each other's streams. */
export async function openTestBus(kind: BusKind = process.env.NATS_URL ? "nats" : "memory"): Promise<TestBus> {
  const namespace = `t${process.pid}x${randomBytes(4).toString("hex")}`;
  const url = kind === "nats" ? process.env.NATS_URL : undefined;
  if (kind === "nats" && !url) throw new Error("NATS_URL must be set to open a NATS test bus");
  const bus = await createBus({ url, namespace, logger: testBusLogger, name: `test-${namespace}`, requestTimeoutMs: 3_000 });
  return {
    bus,
    kind,
    namespace,
    async cleanup() {
      try {
        await bus.close();
      } finally {
        if (url) await deleteStreams(url, new Namespace(namespace).streamPrefix);
      }
    },
  };
}

/** Deletes a test run's JetStream streams (those whose name starts with the namespace's prefix). */
export async function deleteStreams(url: string, streamPrefix: string): Promise<void> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    for await (const name of jsm.streams.names()) {
      if (name.startsWith(streamPrefix)) await jsm.streams.delete(name);
    }
  } finally {
    await nc.close();
  }
}
