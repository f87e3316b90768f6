/**
 * Puts the vision models in the models directory and verifies them by sha256.
 *
 *   npm run models -- --from ../shared/models   copy from a mirror directory
 *   npm run models                              download from the models' public URLs
 *   npm run models -- --check                   verify only
 *
 * The directory is ROLLCALL_MODELS_DIR (default `models`, gitignored), or --to DIR. Files already
 * there with the right sha256 are left alone, so running it again is instant.
 */
import { copyFile, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { MODELS, sha256, type ModelFile } from "../services/vision/domain/pipeline/models.js";

const { values } = parseArgs({
  options: { from: { type: "string" }, to: { type: "string" }, check: { type: "boolean", default: false } },
});
const target = path.resolve(values.to ?? process.env.ROLLCALL_MODELS_DIR ?? "models");

async function digestOf(file: string): Promise<string | undefined> {
  try {
    return sha256(await readFile(file));
  } catch {
    return undefined;
  }
}

async function fetchModel(model: ModelFile, destination: string): Promise<void> {
  const tmp = `${destination}.download`;
  if (values.from) {
    await copyFile(path.resolve(values.from, model.file), tmp);
  } else {
    const res = await fetch(model.url);
    if (!res.ok) throw new Error(`${model.url} answered ${res.status}`);
    await writeFile(tmp, new Uint8Array(await res.arrayBuffer()));
  }
  const actual = await digestOf(tmp);
  if (actual !== model.sha256) throw new Error(`${model.file} from ${values.from ?? model.url} has sha256 ${actual}, expected ${model.sha256}`);
  await rename(tmp, destination);
}

let failed = 0;
await mkdir(target, { recursive: true });
for (const model of MODELS) {
  const destination = path.join(target, model.file);
  if ((await digestOf(destination)) === model.sha256) {
    console.log(`ok        ${destination}`);
    continue;
  }
  if (values.check) {
    console.error(`MISSING   ${destination} (or wrong sha256)`);
    failed++;
    continue;
  }
  try {
    await fetchModel(model, destination);
    console.log(`fetched   ${destination}`);
  } catch (err) {
    console.error(`FAILED    ${model.file}: ${(err as Error).message}`);
    failed++;
  }
}
if (failed > 0) {
  console.error(`${failed} model(s) not usable; the vision service will not start without them`);
  process.exit(1);
}
