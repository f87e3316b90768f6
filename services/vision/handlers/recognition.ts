import { invalidArgument, failedPrecondition } from "../../runtime/errors.js";
import { authorizeAll, type Authorizer } from "../../runtime/authz/authorizer.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import type { VisionService } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import type { VisionCore } from "../domain/vision-core.js";
import { detectedFace, identifiedFace } from "./convert.js";
import { decodeRequestImage, maxFacesOf, organizationOf, requireUuid } from "./request.js";

/** Detect, Identify, Verify. */
export function recognitionHandlers(core: VisionCore, authz: Authorizer): ServiceImpl<typeof VisionService> {
  return {
    async detect(req, ctx) {
      organizationOf(ctx);
      if (req.minScore < 0 || req.minScore > 1) throw invalidArgument("min_score", `must be 0–1, got ${req.minScore}`);
      const maxFaces = maxFacesOf(req.maxFaces);
      const image = await decodeRequestImage(core, "image", req.image);
      const faces = await core.engine.detect(image, { minScore: req.minScore, maxFaces });
      return { faces: faces.map(detectedFace), imageWidth: image.width, imageHeight: image.height };
    },

    async identify(req, ctx) {
      const org = organizationOf(ctx, req.organizationId);
      const maxFaces = maxFacesOf(req.maxFaces);
      // A 1:N search reads every enrolled face of the organisation.
      await authorizeAll(authz, ctx, "faces", "read");
      const image = await decodeRequestImage(core, "image", req.image);
      const thresholds = await core.thresholds.forOrganization(org, ctx);
      const faces = await core.recognition.identify(org, image, thresholds, maxFaces);
      return { faces: faces.map((f) => identifiedFace(f)), imageWidth: image.width, imageHeight: image.height, threshold: thresholds.match };
    },

    async verify(req, ctx) {
      const org = organizationOf(ctx);
      const userId = requireUuid("user_id", req.userId);
      await authz.authorize(ctx, "faces", "read", userId);
      const image = await decodeRequestImage(core, "image", req.image);
      const thresholds = await core.thresholds.forOrganization(org, ctx);
      const outcome = await core.recognition.verify(org, userId, image, thresholds);
      if (!outcome) throw failedPrecondition(`user ${userId} has no enrolled faces; enrol photos first (Enrol)`);
      return {
        similarity: outcome.similarity,
        match: outcome.match,
        threshold: thresholds.match,
        face: outcome.face ? detectedFace(outcome.face) : undefined,
      };
    },
  };
}
