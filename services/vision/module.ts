import { VisionService } from "../../gen/rollcall/vision/v1/vision_pb.js";
import type { ServiceModule } from "../runtime/service-module.js";

/** Vision: detection, alignment, embeddings, 1:N matching, enrolment. Handlers land with issue 5. */
export const visionModule: ServiceModule = {
  name: "vision",
  services: [VisionService],
  migrations: [],
  async start({ server }) {
    server.register(VisionService, {});
    return { stop: async () => undefined };
  },
};
