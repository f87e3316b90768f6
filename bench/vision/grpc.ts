import { startTestMesh } from "../../test/vision/mesh.js";
import { timeRuns, type Timings } from "./engine.js";

/**
 * Identify over gRPC against the all-in-one mesh (embedded Postgres unless DATABASE_URL is
 * set), with the portrait's person enrolled; sequential calls; CPU time is client and mesh together.
 */
export async function identifyOverGrpc(frame: Uint8Array, portrait: Uint8Array, runs: number): Promise<Timings> {
  const mesh = await startTestMesh();
  try {
    const bearer = mesh.tokens.admin;
    await mesh.vision.enrol({ userId: mesh.users.member, photos: [{ filename: "portrait.jpg", content: portrait }] }, { bearer });
    return await timeRuns(runs, 20, () => mesh.vision.identify({ image: frame }, { bearer }));
  } finally {
    await mesh.stop();
  }
}
