import { status } from "@grpc/grpc-js";
import { ConfigService } from "../../../gen/rollcall/identity/v1/config_pb.js";
import { AppError } from "../../runtime/errors.js";
import { callerBearer, type CallContext } from "../../runtime/grpc/context.js";
import type { Logger } from "../../runtime/logger.js";
import type { MeshClients } from "../../runtime/mesh-clients.js";

export interface Thresholds {
  /** Cosine similarity from which a face is a match. */
  match: number;
  /** Matches below match + margin are low-confidence. */
  lowConfidenceMargin: number;
}

/** An organisation's thresholds: the defaults, or its overrides. */
export interface ThresholdSource {
  forOrganization(organizationId: string, ctx?: CallContext): Promise<Thresholds>;
}

export const MATCH_KEY = "vision.match_threshold";
export const MARGIN_KEY = "vision.low_confidence_margin";
const CACHE_MS = 60_000;

/**
 * Overrides are identity's organisation config (`vision.match_threshold`,
 * `vision.low_confidence_margin`), read with the caller's token and kept for a minute. When
 * there is no override, or no way to read one (no caller, identity not reachable), the
 * defaults apply: a missing setting must never stop recognition.
 */
export class OrganizationThresholds implements ThresholdSource {
  private readonly cache = new Map<string, { value: Thresholds; until: number }>();

  constructor(private readonly defaults: Thresholds, private readonly clients: MeshClients | undefined, private readonly logger: Logger) {}

  async forOrganization(organizationId: string, ctx?: CallContext): Promise<Thresholds> {
    const cached = this.cache.get(organizationId);
    if (cached && cached.until > Date.now()) return cached.value;
    if (!ctx || !this.clients) return this.defaults;
    const value = {
      match: await this.read(organizationId, MATCH_KEY, ctx, this.defaults.match),
      lowConfidenceMargin: await this.read(organizationId, MARGIN_KEY, ctx, this.defaults.lowConfidenceMargin),
    };
    this.cache.set(organizationId, { value, until: Date.now() + CACHE_MS });
    return value;
  }

  private async read(organizationId: string, key: string, ctx: CallContext, fallback: number): Promise<number> {
    try {
      const res = await this.clients!.get(ConfigService).getConfig(
        { organizationId, key },
        { parent: ctx, bearer: callerBearer(ctx), timeoutMs: 2_000 },
      );
      const value = res.entry?.value?.kind;
      if (value?.case === "numberValue" && value.value >= -1 && value.value <= 1) return value.value;
      this.logger.warn({ organizationId, key }, "organisation setting is not a number from -1 to 1; using the default");
    } catch (err) {
      if (!(err instanceof AppError && err.code === status.NOT_FOUND)) {
        this.logger.debug({ err, organizationId, key }, "organisation setting unavailable; using the default");
      }
    }
    return fallback;
  }
}
