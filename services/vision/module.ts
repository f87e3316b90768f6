import { Counter } from "prom-client";
import { VisionService } from "../../gen/rollcall/vision/v1/vision_pb.js";
import { AuditPublisher } from "../runtime/audit-publisher.js";
import { followOrganizationDeletions } from "../runtime/organization-deletions.js";
import type { ServiceModule } from "../runtime/service-module.js";
import { loadVisionConfig } from "./config.js";
import { EventsPublisher } from "./domain/frames/events-publisher.js";
import { FrameProcessor } from "./domain/frames/frame-processor.js";
import { PersonDirectory } from "./domain/people.js";
import { IndexSync } from "./domain/index/index-sync.js";
import { createVisionCore } from "./domain/vision-core.js";
import { faceHandlers } from "./handlers/faces.js";
import { consumeFrames } from "./handlers/frames-consumer.js";
import { indexHandlers } from "./handlers/index-admin.js";
import { recognitionHandlers } from "./handlers/recognition.js";
import { streamHandlers } from "./handlers/stream.js";
import { VISION_MIGRATIONS } from "./storage/migrations.js";

/**
 * Vision: detection, alignment, embeddings, 1:N matching per organisation, enrolment, and live
 * recognition of camera frames (gRPC stream and the FRAMES work queue).
 */
export const visionModule: ServiceModule = {
  name: "vision",
  services: [VisionService],
  migrations: VISION_MIGRATIONS,
  async start({ config, db, bus, logger, metrics, server, authz, clients }) {
    const visionConfig = loadVisionConfig();
    const core = await createVisionCore({ config: visionConfig, db, dataDir: config.dataDir, logger, clients });
    const opened = await core.registry.openAll();
    logger.info({ ...opened, model: core.engine.model.name, modelsDir: visionConfig.modelsDir }, "vision ready: models verified, indexes opened");

    const audit = new AuditPublisher(bus, "vision", logger);
    const framesTotal = new Counter({
      name: "vision_frames_total",
      help: "Camera frames handled by vision, by outcome (processed, or the reason they were dropped).",
      labelNames: ["outcome"],
      registers: [metrics.registry],
    });
    const frames = new FrameProcessor(core, new EventsPublisher(bus), visionConfig, logger, (outcome) => framesTotal.inc({ outcome }));
    server.register(VisionService, {
      ...recognitionHandlers(core, authz),
      ...faceHandlers(core, authz, new PersonDirectory(clients)),
      ...indexHandlers(core, authz),
      ...streamHandlers(frames, audit, visionConfig.streamQueue),
    });
    const consumer = await consumeFrames(bus, frames, audit, logger, server.authenticator);
    const sync = new IndexSync(bus, core.registry, logger, visionConfig.indexSyncMs);
    sync.start();
    const deletions = await followOrganizationDeletions(bus, "vision", logger, async (org) => {
      await core.library.deleteOrganization(org);
    });
    return {
      async stop() {
        await deletions.stop();
        await sync.stop();
        await consumer.stop();
        await core.registry.stop();
      },
    };
  },
};
