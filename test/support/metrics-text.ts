/** One sample of the Prometheus text exposition format. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/gy;

/**
 * A strict parser of the text format (version 0.0.4): every line must be a comment, HELP/TYPE,
 * or a well-formed sample, and each sample's family must have been TYPEd. Throws on the first
 * bad line with its number.
 */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  const typed = new Map<string, string>();
  text.split("\n").forEach((line, i) => {
    if (line === "") return;
    const fail = (why: string) => { throw new Error(`line ${i + 1}: ${why}: ${line}`); };
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      if (!name || !["counter", "gauge", "histogram", "summary", "untyped"].includes(type ?? "")) fail("bad TYPE");
      typed.set(name!, type!);
      return;
    }
    if (line.startsWith("#")) return;
    const match = SAMPLE.exec(line);
    if (!match) return fail("not a sample");
    const [, name, labelText, valueText] = match;
    const labels: Record<string, string> = {};
    if (labelText) {
      LABEL.lastIndex = 0;
      let consumed = 0;
      for (let m = LABEL.exec(labelText); m; m = LABEL.exec(labelText)) {
        labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
        consumed = LABEL.lastIndex;
      }
      if (consumed !== labelText.length) fail("bad labels");
    }
    const value = valueText === "+Inf" ? Infinity : valueText === "-Inf" ? -Infinity : Number(valueText);
    if (Number.isNaN(value) && valueText !== "NaN") fail("bad value");
    const family = [...typed.keys()].find((f) => name === f || /_(bucket|sum|count|total|created)$/.test(name!) && name!.startsWith(f));
    if (!family) fail("sample without TYPE");
    samples.push({ name: name!, labels, value });
  });
  return samples;
}
