import { invalidArgument, permissionDenied, unauthenticated, AppError } from "../../runtime/errors.js";
import type { CallContext } from "../../runtime/grpc/context.js";
import { ImageError, type DecodedImage } from "../domain/pipeline/decode.js";
import type { VisionCore } from "../domain/vision-core.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function requireUuid(field: string, value: string): string {
  if (!value) throw invalidArgument(field, "is required");
  if (!UUID.test(value)) throw invalidArgument(field, `must be a UUID, got ${JSON.stringify(value.slice(0, 64))}`);
  return value.toLowerCase();
}

/**
 * The organisation a call acts on: the caller's own, or the one named in the request, which
 * only a platform service token may choose freely.
 */
export function organizationOf(ctx: CallContext, requested = ""): string {
  const caller = ctx.caller;
  if (!caller) throw unauthenticated("this call needs an access token");
  if (requested) {
    const org = requireUuid("organization_id", requested);
    if (org !== caller.organizationId && caller.kind !== "service") {
      throw permissionDenied(`organization_id: a token of organisation ${caller.organizationId ?? "(none)"} cannot act on ${org}`);
    }
    return org;
  }
  if (!caller.organizationId) throw invalidArgument("organization_id", "is required for a token without an organisation");
  return caller.organizationId;
}

/** Decodes a request image; a bad or oversized one is INVALID_ARGUMENT naming the field and limit. */
export async function decodeRequestImage(core: VisionCore, field: string, bytes: Uint8Array): Promise<DecodedImage> {
  if (bytes.length === 0) throw invalidArgument(field, "is required (JPEG, PNG or WebP bytes)");
  try {
    return await core.engine.decode(bytes);
  } catch (err) {
    if (err instanceof ImageError) throw invalidArgument(field, err.message);
    throw err;
  }
}

export function maxFacesOf(value: number): number {
  if (value < 0 || value > 100) throw invalidArgument("max_faces", `must be 0–100, got ${value}`);
  return value || 100;
}

export function isAppError(err: unknown, code: number): boolean {
  return err instanceof AppError && err.code === code;
}
