/** `--name value` from the command line, as a number, or the default. */
export function numberFlag(name: string, fallback: number, argv: string[] = process.argv): number {
  const i = argv.indexOf(name);
  if (i < 0) return fallback;
  const value = Number(argv[i + 1]);
  if (!Number.isFinite(value)) throw new Error(`${name} needs a number, got ${argv[i + 1]}`);
  return value;
}

export function stringFlag(name: string, fallback: string | undefined, argv: string[] = process.argv): string | undefined {
  const i = argv.indexOf(name);
  return i < 0 ? fallback : argv[i + 1];
}
