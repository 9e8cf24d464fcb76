// Embedded training features of a frozen backbone, kept on the CPU between epochs: they do not change, so a method
// embeds each training image once and reshuffles the cached rows per epoch (SimpleNet; any frozen-feature method).
import { seededShuffle } from '../../data/random.ts';

/** Default byte budget of a FeatureCache (beyond it the rows are dropped and the method re-embeds per epoch). */
export const DEFAULT_FEATURE_CACHE_BYTES = 512 * 1024 * 1024;

/** Embedded training rows (`dim` values each) per image, on the CPU, while they fit the byte budget. */
export class FeatureCache {
  private readonly images: Float32Array[] = [];
  private bytes = 0;
  /** False once the rows outgrew the budget: the caller then recomputes features per epoch. */
  complete = true;
  /** Per-dimension sums over every row added, kept even when the rows themselves no longer fit. */
  private readonly sum: Float64Array;
  private readonly squares: Float64Array;
  private rows = 0;

  constructor(private readonly budget: number, private readonly dim: number) {
    this.sum = new Float64Array(dim);
    this.squares = new Float64Array(dim);
  }

  /** Adds the rows of `count` images (each image the same number of rows, concatenated). */
  add(rows: Float32Array, count: number): void {
    for (let i = 0; i < rows.length; i++) {
      this.sum[i % this.dim]! += rows[i]!;
      this.squares[i % this.dim]! += rows[i]! * rows[i]!;
    }
    this.rows += rows.length / this.dim;
    if (!this.complete) return;
    if (this.bytes + rows.byteLength > this.budget) {
      this.complete = false;
      this.images.length = 0;
      return;
    }
    const per = rows.length / count;
    for (let i = 0; i < count; i++) this.images.push(rows.subarray(i * per, (i + 1) * per));
    this.bytes += rows.byteLength;
  }

  /** sqrt(mean over the feature dimensions of their variance) of all rows added (0 when none). */
  spread(): number {
    if (this.rows === 0) return 0;
    let variance = 0;
    for (let d = 0; d < this.dim; d++) variance += this.squares[d]! / this.rows - (this.sum[d]! / this.rows) ** 2;
    return Math.sqrt(Math.max(0, variance / this.dim));
  }

  /** Images shuffled with a seeded permutation, concatenated `batchSize` at a time, like a shuffling DataLoader. */
  *shuffledBatches(batchSize: number, seed: number): Iterable<Float32Array> {
    if (!this.complete) throw new Error('texad: FeatureCache.shuffledBatches: the cache overflowed its budget; re-embed the images instead');
    const order = seededShuffle(this.images.map((_, i) => i), seed);
    for (let start = 0; start < order.length; start += batchSize) {
      const picked = order.slice(start, start + batchSize).map((i) => this.images[i]!);
      const out = new Float32Array(picked.reduce((n, a) => n + a.length, 0));
      let offset = 0;
      for (const a of picked) {
        out.set(a, offset);
        offset += a.length;
      }
      yield out;
    }
  }
}
