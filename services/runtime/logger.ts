import { pino, type Logger } from "pino";

export type { Logger };

/**
 * One pino logger for the process; services and modules take children of it
 * (`logger.child({ service: "identity" })`). Level comes from LOG_LEVEL via config;
 * tests default to "silent" unless LOG_LEVEL is set.
 */
export function createLogger(level: string = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    // Secrets must never reach a log line, even by accident through an object dump.
    redact: {
      paths: [
        "password", "*.password", "secret", "*.secret", "token", "*.token",
        "refreshToken", "*.refreshToken", "accessToken", "*.accessToken",
        "authorization", "*.authorization", "headers.authorization",
      ],
      censor: "[redacted]",
    },
  });
}

export const rootLogger: Logger = createLogger(
  process.env.LOG_LEVEL ?? (process.env.npm_lifecycle_event === "test" ? "silent" : "info"),
);
