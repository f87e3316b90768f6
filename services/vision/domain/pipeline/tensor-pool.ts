/**
 * Reusable input buffers for inference: a 640x480 detector input is 3.7 MB of floats, and
 * allocating (zeroing, then collecting) one per frame costs about as much as filling it. A
 * buffer is taken for one run and given back after; concurrent runs get distinct buffers.
 */
export class TensorPool {
  private readonly free: Float32Array[] = [];

  /** At most `keep` idle buffers are held (each size the callers ask for is usually one). */
  constructor(private readonly keep = 4) {}

  /** A buffer of exactly `length` floats; its contents are whatever was last written. */
  take(length: number): Float32Array {
    const i = this.free.findIndex((b) => b.length === length);
    return i >= 0 ? this.free.splice(i, 1)[0]! : new Float32Array(length);
  }

  give(buffer: Float32Array): void {
    this.free.push(buffer);
    if (this.free.length > this.keep) this.free.shift();
  }
}
