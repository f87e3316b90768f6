import type { IndexKind, Neighbour, VectorTier } from "./tiers.js";

export interface IndexedFace {
  label: number;
  userId: string;
  /** The person's stable label from identity (0 when not recorded). */
  faceLabel: bigint;
}

export interface IndexMatch extends Neighbour {
  userId: string;
  faceLabel: bigint;
}

/** One organisation's index: the vector tier plus which user each label belongs to. */
export class FaceIndex {
  private readonly owners = new Map<number, { userId: string; faceLabel: bigint }>();
  private labelSum = 0n;

  constructor(
    readonly organizationId: string,
    private tierImpl: VectorTier,
    owners: Iterable<IndexedFace>,
    public builtAt: Date,
  ) {
    for (const face of owners) this.own(face);
  }

  get kind(): IndexKind {
    return this.tierImpl.kind;
  }

  get tier(): VectorTier {
    return this.tierImpl;
  }

  get count(): number {
    return this.owners.size;
  }

  /** (count, label sum): compared with Postgres to tell whether this index is current. */
  get digest(): { count: number; labelSum: string } {
    return { count: this.owners.size, labelSum: this.labelSum.toString() };
  }

  labels(): IterableIterator<number> {
    return this.owners.keys();
  }

  has(label: number): boolean {
    return this.owners.has(label);
  }

  add(faces: readonly IndexedFace[], vectors: readonly Float32Array[]): void {
    this.tierImpl.add(faces.map((f) => f.label), vectors);
    for (const face of faces) this.own(face);
  }

  remove(labels: readonly number[]): void {
    const present = labels.filter((l) => this.owners.has(l));
    this.tierImpl.remove(present);
    for (const label of present) {
      this.owners.delete(label);
      this.labelSum -= BigInt(label);
    }
  }

  /** The best `k` enrolled faces, most similar first (one per label). */
  search(vector: Float32Array, k = 1): IndexMatch[] {
    return this.tierImpl
      .search(vector, k)
      .flatMap((n) => {
        const owner = this.owners.get(n.label);
        return owner ? [{ ...n, ...owner }] : [];
      });
  }

  private own(face: IndexedFace): void {
    this.owners.set(face.label, { userId: face.userId, faceLabel: face.faceLabel });
    this.labelSum += BigInt(face.label);
  }
}
