import { authorizeAll, type Authorizer } from "../../runtime/authz/authorizer.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import type { VisionService } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import type { VisionCore } from "../domain/vision-core.js";
import { indexStats } from "./convert.js";
import { organizationOf } from "./request.js";

/** RebuildIndex, IndexStats. */
export function indexHandlers(core: VisionCore, authz: Authorizer): ServiceImpl<typeof VisionService> {
  return {
    async rebuildIndex(req, ctx) {
      const org = organizationOf(ctx, req.organizationId);
      await authorizeAll(authz, ctx, "faces", "update");
      const started = performance.now();
      const index = await core.registry.rebuild(org);
      return { stats: indexStats(index, core.engine.model), elapsedMs: Math.round(performance.now() - started) };
    },

    async indexStats(req, ctx) {
      const org = organizationOf(ctx, req.organizationId);
      await authorizeAll(authz, ctx, "faces", "read");
      return { stats: indexStats(await core.registry.get(org), core.engine.model) };
    },
  };
}
