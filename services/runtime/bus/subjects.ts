import { invalidArgument } from "../errors.js";

/**
 * NATS subject rules, shared by both bus implementations: tokens separated by ".", `*` matches
 * exactly one token, `>` (last token only) matches one or more.
 */

export function subjectMatches(pattern: string, subject: string): boolean {
  const patternTokens = pattern.split(".");
  const subjectTokens = subject.split(".");
  for (let i = 0; i < patternTokens.length; i++) {
    if (patternTokens[i] === ">") return subjectTokens.length > i;
    if (i >= subjectTokens.length) return false;
    if (patternTokens[i] !== "*" && patternTokens[i] !== subjectTokens[i]) return false;
  }
  return patternTokens.length === subjectTokens.length;
}

/** True when some subject could match both patterns (NATS refuses overlapping stream subjects). */
export function patternsOverlap(a: string, b: string): boolean {
  const aTokens = a.split(".");
  const bTokens = b.split(".");
  for (let i = 0; i < Math.max(aTokens.length, bTokens.length); i++) {
    const [x, y] = [aTokens[i], bTokens[i]];
    if (x === undefined || y === undefined) return false;
    if (x === ">" || y === ">") return true;
    if (x !== "*" && y !== "*" && x !== y) return false;
  }
  return true;
}

export function checkSubject(subject: string, { wildcards }: { wildcards: boolean }): string {
  const tokens = subject.split(".");
  tokens.forEach((token, i) => {
    const isWildcard = token === "*" || (token === ">" && i === tokens.length - 1);
    if (isWildcard && wildcards) return;
    if (!isPlainToken(token)) {
      const allowed = wildcards ? "tokens, `*`, or a final `>`" : "tokens without wildcards";
      throw invalidArgument("subject", `"${subject}" must be dot-separated ${allowed}`);
    }
  });
  return subject;
}

/** One subject token from data (an organisation id, a device id): no dots, wildcards or spaces. */
export function subjectToken(value: string, field = "subject token"): string {
  if (!isPlainToken(value)) throw invalidArgument(field, `"${value}" cannot be used in a subject (no ".", "*", ">" or spaces)`);
  return value;
}

/** Stream and durable consumer names. */
export function checkName(name: string, field: string): string {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(name)) throw invalidArgument(field, `"${name}" must be letters, digits, "_" or "-"`);
  return name;
}

function isPlainToken(token: string): boolean {
  return token.length > 0 && !/[.*>\s]/.test(token);
}

/**
 * Where a bus's subjects and streams live on a shared server: subject "frames.o.d" is
 * "rollcall.frames.o.d" on the wire and stream "FRAMES" is "ROLLCALL_FRAMES", so test runs
 * with their own namespace never see each other.
 */
export class Namespace {
  private readonly subjectPrefix: string;
  readonly streamPrefix: string;

  constructor(readonly name: string) {
    subjectToken(name, "namespace");
    this.subjectPrefix = `${name}.`;
    this.streamPrefix = `${name.toUpperCase().replace(/[^A-Z0-9_-]/g, "_")}_`;
  }

  subject(relative: string): string {
    return this.subjectPrefix + relative;
  }

  relative(absolute: string): string {
    return absolute.startsWith(this.subjectPrefix) ? absolute.slice(this.subjectPrefix.length) : absolute;
  }

  stream(name: string): string {
    return this.streamPrefix + name;
  }
}
