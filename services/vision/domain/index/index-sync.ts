import { randomUUID } from "node:crypto";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { IndexChangedSchema } from "../../../../gen/rollcall/vision/v1/bus_pb.js";
import { subjects, type Bus, type Subscription } from "../../../runtime/bus/bus.js";
import type { Logger } from "../../../runtime/logger.js";
import type { IndexRegistry } from "./index-registry.js";

const ANY_ORGANIZATION = "vision.index.changed.*";

/**
 * Keeps the indexes of several vision replicas in step. Each replica holds every organisation's
 * index it serves in memory; when one changes an index (enrolment, deletion, rebuild) it says so
 * on core pub/sub and the others reconcile their copy with Postgres, the source of truth. Core
 * pub/sub can lose a message (a replica reconnecting), so each replica also compares its loaded
 * indexes with Postgres every `intervalMs`.
 */
export class IndexSync {
  readonly replicaId = randomUUID();
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private checking: Promise<void> | undefined;

  constructor(
    private readonly bus: Bus,
    private readonly registry: IndexRegistry,
    private readonly logger: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.registry.onChange((organizationId) => this.announce(organizationId));
    this.subscription = this.bus.subscribe(ANY_ORGANIZATION, (message) => {
      let changed;
      try {
        changed = fromBinary(IndexChangedSchema, message.data);
      } catch (err) {
        this.logger.warn({ err, subject: message.subject }, "ignoring an IndexChanged message that does not decode");
        return;
      }
      if (changed.replicaId === this.replicaId) return;
      this.registry
        .reconcile(changed.organizationId)
        .catch((err) => this.logger.warn({ err, organizationId: changed.organizationId }, "could not reconcile an index; the periodic check will retry"));
    });
    this.timer = setInterval(() => {
      this.checking ??= this.registry
        .reconcileStale()
        .catch((err) => this.logger.warn({ err }, "periodic index check failed"))
        .finally(() => (this.checking = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.subscription?.unsubscribe();
    await this.checking;
  }

  private announce(organizationId: string): void {
    const message = create(IndexChangedSchema, { organizationId, replicaId: this.replicaId });
    try {
      this.bus.publishEphemeral(subjects.visionIndexChanged(organizationId), toBinary(IndexChangedSchema, message));
    } catch (err) {
      this.logger.warn({ err, organizationId }, "could not announce an index change; other replicas catch up at their periodic check");
    }
  }
}
