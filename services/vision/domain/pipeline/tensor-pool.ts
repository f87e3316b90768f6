/**
 * Reusable input buffers for inference: a padded 640x480 detector input is 0.9 MB, a batch of
 * aligned faces 150 kB of floats each, and allocating (zeroing, then collecting) one per call
 * costs about as much as filling it. A buffer is taken for one run and given back after;
 * concurrent runs get distinct buffers.
 */
export class TensorPool<T extends Float32Array | Uint8Array = Float32Array> {
  private readonly free: T[] = [];

  /**
   * `kind`: the typed array the buffers are; at most `keep` idle buffers are held (each size the
   * callers ask for is usually one).
   */
  constructor(
    private readonly kind: new (length: number) => T = Float32Array as unknown as new (length: number) => T,
    private readonly keep = 4,
  ) {}

  /** A buffer of exactly `length` elements; its contents are whatever was last written. */
  take(length: number): T {
    const i = this.free.findIndex((b) => b.length === length);
    return i >= 0 ? this.free.splice(i, 1)[0]! : new this.kind(length);
  }

  give(buffer: T): void {
    this.free.push(buffer);
    if (this.free.length > this.keep) this.free.shift();
  }
}
