import { connect } from "node:net";
import { status } from "@grpc/grpc-js";
import { AppError } from "../../../services/runtime/errors.js";

const DEFAULT_PORTS: Record<string, number> = { "rtsp:": 554, "rtsps:": 322, "http:": 80, "https:": 443 };

/**
 * Resolves once the stream URL's host accepts a TCP connection (closed at once), without blocking
 * the event loop. OpenCV's open blocks it: against a camera that is off the network (its SYNs
 * unanswered) for the whole --source-timeout-ms, each try. Reopenings ask this first, so a long
 * outage costs timers, and only a camera that answers again gets the blocking open.
 */
export function acceptsConnections(url: string, description: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const { protocol, hostname, port } = new URL(url);
  const host = hostname.replace(/^\[(.*)\]$/, "$1"); // IPv6 literals come bracketed
  const target = { host, port: Number(port) || DEFAULT_PORTS[protocol.toLowerCase()]! };
  return new Promise((resolve, reject) => {
    const socket = connect(target);
    const fail = (why: string) => {
      socket.destroy();
      signal?.removeEventListener("abort", abort);
      reject(new AppError(status.UNAVAILABLE, `cannot reach ${description}: ${why}; check that the camera is powered and on the network`));
    };
    const abort = () => fail("stopped waiting (the agent is stopping)");
    if (signal?.aborted) return abort();
    signal?.addEventListener("abort", abort, { once: true });
    socket.setTimeout(timeoutMs, () => fail(`no answer from ${host}:${target.port} within ${timeoutMs} ms`));
    socket.once("error", (err) => fail(err.message));
    socket.once("connect", () => {
      socket.destroy();
      signal?.removeEventListener("abort", abort);
      resolve();
    });
  });
}
