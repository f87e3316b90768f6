import { unavailable } from "../../runtime/errors.js";

export const PROVIDER_TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 1024 * 1024;

export interface ProviderResponse {
  status: number;
  contentType: string;
  /** Parsed JSON, or undefined when the body is not JSON. */
  json: unknown;
}

/**
 * One HTTP exchange with an identity provider. Being unreachable, slow or answering 5xx is
 * UNAVAILABLE (worth retrying); everything else is returned for the caller to judge. Redirects
 * are not followed: a provider's endpoints answer directly, and a redirected POST would carry
 * the client secret to wherever it points.
 */
export async function callProvider(what: string, url: string, init: RequestInit, signal?: AbortSignal): Promise<ProviderResponse> {
  const timeout = AbortSignal.timeout(PROVIDER_TIMEOUT_MS);
  let res: Response;
  try {
    res = await fetch(url, {
      ...init,
      redirect: "manual",
      headers: { accept: "application/json", ...init.headers },
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
  } catch (err) {
    const reason = timeout.aborted ? `no answer within ${PROVIDER_TIMEOUT_MS / 1000} s` : causeOf(err);
    throw unavailable(`the identity provider could not be reached for ${what} (${new URL(url).origin}: ${reason}); try again later`);
  }
  if (res.status >= 500) {
    await res.body?.cancel();
    throw unavailable(`the identity provider answered ${what} with HTTP ${res.status}; try again later`);
  }
  const text = await boundedText(res, what);
  const contentType = res.headers.get("content-type") ?? "";
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, contentType, json };
}

async function boundedText(res: Response, what: string): Promise<string> {
  if (Number(res.headers.get("content-length") ?? 0) > MAX_BODY_BYTES) {
    await res.body?.cancel();
    throw unavailable(`the identity provider's answer to ${what} is larger than 1 MiB`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? []) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw unavailable(`the identity provider's answer to ${what} is larger than 1 MiB`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function causeOf(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
