import type { Logger } from "../logger.js";
import type { Bus, StreamSpec } from "./bus.js";

/**
 * Publishes to one JetStream stream, ensuring the stream once. A failed publish (bus down) is
 * logged as an error with what was lost, and reported as false: the caller's own action has
 * already happened and is not undone for it.
 */
export class StreamPublisher {
  private ready: Promise<void> | undefined;

  constructor(private readonly bus: Bus, private readonly stream: StreamSpec, private readonly logger: Logger) {}

  async publish(subject: string, data: Uint8Array, msgId: string, what: object): Promise<boolean> {
    try {
      this.ready ??= this.bus.ensureStream(this.stream).catch((err: unknown) => {
        this.ready = undefined;
        throw err;
      });
      await this.ready;
      await this.bus.publish(subject, data, { msgId });
      return true;
    } catch (err) {
      this.logger.error({ err, stream: this.stream.name, msgId, lost: what }, "could not publish to the bus");
      return false;
    }
  }
}
