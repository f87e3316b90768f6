import { createHmac } from "node:crypto";
import { toJsonString } from "@bufbuild/protobuf";
import { EventSchema, type Event } from "../../../gen/rollcall/audit/v1/types_pb.js";
import type { Mailer } from "../../runtime/mail/mailer.js";
import { nameOf, SEVERITIES } from "../handlers/convert.js";

export const SIGNATURE_HEADER = "x-rollcall-signature";
export const TIMESTAMP_HEADER = "x-rollcall-timestamp";

/**
 * The webhook signature: HMAC-SHA256 with the rule's secret over `${timestamp}.${body}`, hex, as
 * `v1=<hex>`. The timestamp (Unix seconds, also sent in x-rollcall-timestamp) lets receivers
 * refuse replays older than a few minutes.
 */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `v1=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

export interface Delivery {
  notificationId: string;
  channel: string;
  target: string;
  signingSecret: string;
  event: Event;
}

/** Sends one notification; throws with a message fit for last_error when it was not delivered. */
export async function deliver(delivery: Delivery, mailer: Mailer, timeoutMs: number): Promise<void> {
  if (delivery.channel === "WEBHOOK") return postWebhook(delivery, timeoutMs);
  if (delivery.channel === "EMAIL") return mailer.send(mailOf(delivery.event, delivery.target));
  throw new Error(`channel ${delivery.channel} is not delivered by the dispatcher`);
}

async function postWebhook({ notificationId, target, signingSecret, event }: Delivery, timeoutMs: number): Promise<void> {
  const body = toJsonString(EventSchema, event);
  const timestamp = String(Math.floor(Date.now() / 1000));
  let res: Response;
  try {
    res = await fetch(target, {
      method: "POST",
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
      headers: {
        "content-type": "application/json",
        "user-agent": "Rollcall-Webhook/1",
        "x-rollcall-event-id": event.id,
        "x-rollcall-delivery-id": notificationId,
        [TIMESTAMP_HEADER]: timestamp,
        [SIGNATURE_HEADER]: webhookSignature(signingSecret, timestamp, body),
      },
    });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    throw new Error(`POST ${target} failed: ${(err as Error).message}${cause ? ` (${cause})` : ""}`);
  }
  await res.body?.cancel().catch(() => undefined);
  if (res.status < 200 || res.status >= 300) throw new Error(`POST ${target} answered HTTP ${res.status}`);
}

function mailOf(event: Event, to: string) {
  const severity = nameOf(SEVERITIES, event.severity) ?? "INFO";
  return {
    to,
    subject: `[Rollcall] ${severity} ${event.type}${event.referenceId ? ` (${event.referenceId})` : ""}`,
    text: `${event.type} (${severity}) in organisation ${event.organizationId}\nreference: ${event.referenceId || "-"}\nevent id: ${event.id}\n\n${JSON.stringify(event.metadata ?? {}, null, 2)}\n`,
  };
}
