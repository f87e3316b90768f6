import { Command } from "commander";
import { status } from "@grpc/grpc-js";
import { EnrolRejectReason, VisionService } from "../../gen/rollcall/vision/v1/vision_pb.js";
import { AppError } from "../../services/runtime/errors.js";
import { EXIT, usageError } from "../exit-codes.js";
import { batches, loadPhoto, scanPeople, type LoadedPhoto, type PhotoFile } from "../photos.js";
import { Progress } from "../progress.js";
import { findUser } from "../resolve.js";
import { withMesh, type Run } from "../run.js";

/** Vision takes 1–5 photos and at most 32 MiB per Enrol call. */
const PHOTOS_PER_CALL = 5;
const BYTES_PER_CALL = 30 * 1024 * 1024;
const ENROL_TIMEOUT_MS = 120_000;

export interface Verdict {
  user: string;
  file: string;
  verdict: "accepted" | "rejected" | "skipped" | "failed";
  reason?: string;
  detail?: string;
  faceId?: string;
  sha256?: string;
}

interface Person {
  username: string;
  photos: PhotoFile[];
}

function describe(v: Verdict): string {
  const why = v.verdict === "accepted" ? "" : ` ${v.reason ?? ""}${v.detail ? `: ${v.detail}` : ""}`;
  return `${v.user} ${v.file}: ${v.verdict}${why}`;
}

/** Enrols one person's photos, skipping those whose sha256 vision already holds for them. */
async function enrolPerson(run: Run, person: Person, report: (v: Verdict) => void): Promise<number | undefined> {
  const verdict = (file: PhotoFile, rest: Omit<Verdict, "user" | "file">) => report({ user: person.username, file: file.path, ...rest });
  let userId: string;
  try {
    userId = (await findUser(run.conn, person.username)).id;
  } catch (err) {
    if (!(err instanceof AppError) || err.code !== status.NOT_FOUND) throw err;
    for (const file of person.photos) verdict(file, { verdict: "failed", reason: "NO_SUCH_USER", detail: `add the user first: rollcall user add ${person.username} ...` });
    return undefined;
  }
  const vision = run.conn.client(VisionService);
  const enrolled = new Set((await vision.listFaces({ userId })).faces.map((f) => f.sha256));
  const pending: LoadedPhoto[] = [];
  for (const file of person.photos) {
    let photo: LoadedPhoto;
    try {
      photo = await loadPhoto(file);
    } catch (err) {
      verdict(file, { verdict: "failed", reason: "UNREADABLE", detail: (err as Error).message });
      continue;
    }
    if (enrolled.has(photo.sha256)) {
      verdict(file, { verdict: "skipped", reason: "ALREADY_ENROLLED", sha256: photo.sha256 });
      continue;
    }
    enrolled.add(photo.sha256); // the same file twice in one run is sent once
    pending.push(photo);
  }
  let faceCount: number | undefined;
  for (const batch of batches(pending, PHOTOS_PER_CALL, BYTES_PER_CALL)) {
    const answer = await vision.enrol(
      { userId, photos: batch.map((p) => ({ filename: p.name, content: p.content })) },
      { timeoutMs: Math.max(run.conn.timeoutMs, ENROL_TIMEOUT_MS) },
    );
    answer.results.forEach((r, i) => {
      const photo = batch[i]!;
      verdict(photo, r.accepted
        ? { verdict: "accepted", faceId: r.faceId, sha256: photo.sha256 }
        : { verdict: "rejected", reason: EnrolRejectReason[r.rejectReason], detail: r.detail, sha256: photo.sha256 });
    });
    faceCount = answer.faceCount;
  }
  return faceCount ?? enrolled.size;
}

/** rollcall enrol <user> photo... | rollcall enrol --dir people/ */
export function enrolCommand(): Command {
  return new Command("enrol")
    .argument("[user]", "username, email or id of the person (not with --dir)")
    .argument("[photos...]", "JPEG or PNG photos of that person")
    .option("--dir <folder>", "enrol everyone in <folder>: one sub-folder per person, named by username")
    .description("enrol face photos; each photo is accepted or rejected by a quality gate; photos already enrolled are skipped")
    .addHelpText("after", `
A progress bar is drawn on a terminal; each photo gets a line: accepted, rejected (NO_FACE,
MULTIPLE_FACES, TOO_SMALL, LOW_SCORE, BLURRY, NOT_FRONTAL, DUPLICATE, LIMIT_REACHED, UNDECODABLE,
TOO_LARGE), skipped (already enrolled: same sha256) or failed. Safe to re-run.
Exits 0 when every photo got a verdict, 7 when some could not be processed (unknown user, unreadable file).`)
    .action(withMesh<{ dir?: string }>(async (run, opts, user: string | undefined, photos: string[]) => {
      let people: Person[];
      if (opts.dir) {
        if (user) throw usageError("give either --dir or <user> photo..., not both");
        people = await scanPeople(opts.dir);
      } else {
        if (!user || photos.length === 0) throw usageError("give <user> and at least one photo, or --dir <folder>");
        people = [{ username: user, photos: photos.map((p) => ({ path: p, name: p.split(/[\\/]/).pop()! })) }];
      }
      const { out } = run;
      const total = people.reduce((n, p) => n + p.photos.length, 0);
      const progress = new Progress(total, out.interactive ? out.errors : undefined);
      const verdicts: Verdict[] = [];
      const faces: Record<string, number> = {};
      try {
        for (const person of people) {
          const count = await enrolPerson(run, person, (v) => {
            verdicts.push(v);
            if (!out.json) progress.log(() => out.line(describe(v)));
            progress.tick(`${v.user} ${v.file.split(/[\\/]/).pop()}`);
          });
          if (count !== undefined) faces[person.username] = count;
        }
      } finally {
        progress.finish();
      }
      const count = (k: Verdict["verdict"]) => verdicts.filter((v) => v.verdict === k).length;
      const summary = { people: people.length, photos: total, accepted: count("accepted"), rejected: count("rejected"), skipped: count("skipped"), failed: count("failed") };
      out.result({ verdicts, faces, summary }, () =>
        out.line(`${summary.people} people, ${summary.photos} photos: ${summary.accepted} accepted, ${summary.rejected} rejected, ` +
          `${summary.skipped} skipped (already enrolled), ${summary.failed} failed`));
      return summary.failed > 0 ? EXIT.PARTIAL : EXIT.OK;
    }));
}
