import { invalidArgument, notFound } from "../../runtime/errors.js";
import { authorizeAll, type Authorizer } from "../../runtime/authz/authorizer.js";
import type { ServiceImpl } from "../../runtime/grpc/context.js";
import { EnrolRejectReason, type VisionService } from "../../../gen/rollcall/vision/v1/vision_pb.js";
import type { PersonDirectory } from "../domain/people.js";
import type { VisionCore } from "../domain/vision-core.js";
import { REJECT_REASONS, detectedFace, face } from "./convert.js";
import { organizationOf, requireUuid } from "./request.js";

const MAX_PHOTOS = 5;

/** Enrol, ListFaces, DeleteFace, DeleteUserFaces. */
export function faceHandlers(core: VisionCore, authz: Authorizer, people: PersonDirectory): ServiceImpl<typeof VisionService> {
  return {
    async enrol(req, ctx) {
      const org = organizationOf(ctx);
      const userId = requireUuid("user_id", req.userId);
      if (req.photos.length < 1 || req.photos.length > MAX_PHOTOS) {
        throw invalidArgument("photos", `send 1–${MAX_PHOTOS} photos, got ${req.photos.length}`);
      }
      req.photos.forEach((p, i) => {
        if (p.filename.length > 255) throw invalidArgument(`photos[${i}].filename`, "must be at most 255 characters");
        if (p.content.length === 0) throw invalidArgument(`photos[${i}].content`, "is empty");
      });
      await authz.authorize(ctx, "faces", "create", userId);
      const person = await people.enrollable(org, userId, ctx);
      const outcome = await core.enrolment.enrol(org, person, req.photos.map((p, i) => ({ filename: p.filename || `photo ${i + 1}`, content: p.content })));
      return {
        results: outcome.results.map((r, i) => ({
          filename: req.photos[i]!.filename,
          accepted: r.accepted,
          faceId: r.faceId ?? "",
          rejectReason: r.reason ? REJECT_REASONS[r.reason] : EnrolRejectReason.UNSPECIFIED,
          detail: r.accepted ? "" : `${r.filename}: ${r.detail}`.slice(0, 500),
          face: r.detection ? detectedFace(r.detection) : undefined,
        })),
        faceCount: outcome.faceCount,
        faceLimit: outcome.faceLimit,
      };
    },

    async listFaces(req, ctx) {
      const org = organizationOf(ctx);
      const userId = requireUuid("user_id", req.userId);
      await authz.authorize(ctx, "faces", "read", userId);
      return { faces: (await core.library.list(org, userId)).map(face) };
    },

    async deleteFace(req, ctx) {
      const org = organizationOf(ctx);
      const faceId = requireUuid("face_id", req.faceId);
      const existing = await core.library.get(org, faceId);
      // Authorised against the owner when the face exists; otherwise only a caller with
      // delete rights on every face learns that it does not.
      if (existing?.user_id) await authz.authorize(ctx, "faces", "delete", existing.user_id);
      else await authorizeAll(authz, ctx, "faces", "delete");
      const deleted = existing && (await core.library.deleteFace(org, faceId));
      if (!deleted) throw notFound("face", faceId);
      return { faceCount: deleted.remaining };
    },

    async deleteUserFaces(req, ctx) {
      const org = organizationOf(ctx);
      const userId = requireUuid("user_id", req.userId);
      await authz.authorize(ctx, "faces", "delete", userId);
      return { deletedCount: await core.library.deleteUserFaces(org, userId) };
    },
  };
}
