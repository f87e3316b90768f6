import { createBus, subjects, type Bus } from "../../../services/runtime/bus/bus.js";
import { STREAMS } from "../../../services/runtime/bus/streams.js";
import type { Logger } from "../../../services/runtime/logger.js";
import type { DeviceTokens } from "./device-token.js";
import type { Publisher } from "./outbox.js";
import type { OutgoingMessage } from "./spool.js";

export interface NatsLinkOptions {
  url: string;
  namespace: string;
  timeoutMs: number;
  logger: Logger;
  /** A bus made elsewhere (tests: the in-process bus); otherwise one is connected to `url`. */
  connect?: () => Promise<Bus>;
}

/**
 * The agent's connection to the mesh's NATS: connected lazily and again after a failed attempt
 * (the NATS client itself reconnects an established connection), streams ensured once, every
 * frame message carrying the device token in its `authorization` header.
 */
export class NatsLink implements Publisher {
  private bus: Bus | undefined;
  private connecting: Promise<Bus> | undefined;
  private closed = false;

  constructor(private readonly tokens: DeviceTokens, private readonly options: NatsLinkOptions) {}

  get connected(): boolean {
    return this.bus !== undefined;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    const { token } = await this.tokens.get();
    const bus = await this.open();
    await bus.publish(message.subject, message.data, { msgId: message.msgId, headers: { authorization: `Bearer ${token}` } });
  }

  /** Heartbeats: best effort, never spooled. */
  async publishHealth(component: string, data: Uint8Array): Promise<void> {
    const bus = await this.open();
    await bus.publish(subjects.health(component), data);
  }

  async close(): Promise<void> {
    this.closed = true;
    const bus = this.bus ?? (await this.connecting?.catch(() => undefined));
    this.bus = undefined;
    await bus?.close();
  }

  private open(): Promise<Bus> {
    if (this.closed) return Promise.reject(new Error("the NATS link is closed"));
    if (this.bus) return Promise.resolve(this.bus);
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<Bus> {
    const { url, namespace, timeoutMs, logger } = this.options;
    const bus = this.options.connect
      ? await this.options.connect()
      : await createBus({ url, namespace, logger, name: "rollcall-agent", requestTimeoutMs: timeoutMs });
    try {
      await bus.ensureStream(STREAMS.frames);
      await bus.ensureStream(STREAMS.health);
    } catch (err) {
      await bus.close().catch(() => {});
      throw err;
    }
    if (this.closed) {
      await bus.close();
      throw new Error("the NATS link is closed");
    }
    this.bus = bus;
    logger.info({ nats: url }, "connected to NATS");
    return bus;
  }
}
