// A chunk is one key region of cap + 1 slots: negatives are appended upwards from slot 0, positives downwards from
// slot cap, so the two classes share the capacity without knowing the class balance in advance. Positives occupy
// slots [cap + 1 - positives, cap]. In pixel mode a parallel u32 payload region holds each positive's region size.

let negCount: i32 = 0;
let posCount: i32 = 0;

export function chunkNegatives(): i32 {
  return negCount;
}

export function chunkPositives(): i32 {
  return posCount;
}

export function chunkReset(): void {
  negCount = 0;
  posCount = 0;
}

// Appends n keys (already transformed) with 0/1 label bytes. The caller guarantees room for n more keys.
// Both slots are written and only one counter advances: this keeps the loop branch-free, which matters because
// labels of image scores are unpredictable.
function splitLabels<K>(keys: usize, labels: usize, n: i32, base: usize, cap: i32): void {
  const w = sizeof<K>();
  let nn = negCount;
  let np = posCount;
  for (let i = 0; i < n; i++) {
    const k = load<K>(keys + <usize>i * w);
    const l = <i32>load<u8>(labels + <usize>i);
    store<K>(base + <usize>nn * w, k);
    store<K>(base + <usize>(cap - np) * w, k);
    nn += 1 - l;
    np += l;
  }
  negCount = nn;
  posCount = np;
}

export function splitLabels32(keys: usize, labels: usize, n: i32, base: usize, cap: i32): void {
  splitLabels<u32>(keys, labels, n, base, cap);
}

export function splitLabels64(keys: usize, labels: usize, n: i32, base: usize, cap: i32): void {
  splitLabels<u64>(keys, labels, n, base, cap);
}

// As splitLabels, with the class taken from per-pixel region sizes (0 = background) that travel as payload.
function splitSizes<K>(keys: usize, sizes: usize, n: i32, base: usize, pay: usize, cap: i32): void {
  const w = sizeof<K>();
  let nn = negCount;
  let np = posCount;
  for (let i = 0; i < n; i++) {
    const k = load<K>(keys + <usize>i * w);
    const s = load<u32>(sizes + (<usize>i << 2));
    const l = <i32>(s != 0);
    store<K>(base + <usize>nn * w, k);
    store<K>(base + <usize>(cap - np) * w, k);
    store<u32>(pay + (<usize>(cap - np) << 2), s);
    nn += 1 - l;
    np += l;
  }
  negCount = nn;
  posCount = np;
}

export function splitSizes32(keys: usize, sizes: usize, n: i32, base: usize, pay: usize, cap: i32): void {
  splitSizes<u32>(keys, sizes, n, base, pay, cap);
}

export function splitSizes64(keys: usize, sizes: usize, n: i32, base: usize, pay: usize, cap: i32): void {
  splitSizes<u64>(keys, sizes, n, base, pay, cap);
}

// Appends n keys that are all negatives (an image with an empty mask).
export function appendNegatives(keys: usize, n: i32, base: usize, keyBytes: i32): void {
  memory.copy(base + <usize>negCount * <usize>keyBytes, keys, <usize>n * <usize>keyBytes);
  negCount += n;
}

// ---- LSD radix sort, 11-bit digits (3 passes for u32 keys, 6 for u64), all histograms from one read pass.
// A pass whose digit is the same for every key is skipped: scores in a narrow range share their top bits.

const DIGIT_BITS: u32 = 11;
const BUCKETS: i32 = 1 << DIGIT_BITS;
const HIST: usize = memory.data(6 * 2048 * 4, 16);

function histograms<K>(keys: usize, n: i32, passes: i32): void {
  const w = sizeof<K>();
  memory.fill(HIST, 0, <usize>(passes * BUCKETS) << 2);
  for (let i = 0; i < n; i++) {
    const k = load<K>(keys + <usize>i * w);
    bump(0, <u32>k & 0x7ff);
    bump(1, <u32>(k >> 11) & 0x7ff);
    bump(2, <u32>(k >> 22) & 0x7ff);
    if (sizeof<K>() == 8) {
      bump(3, <u32>(k >> 33) & 0x7ff);
      bump(4, <u32>(k >> 44) & 0x7ff);
      bump(5, <u32>(k >> 55) & 0x7ff);
    }
  }
}

// @ts-ignore: decorator
@inline function bump(d: i32, b: u32): void {
  const h = HIST + (<usize>(d * BUCKETS + <i32>b) << 2);
  store<u32>(h, load<u32>(h) + 1);
}

// Turns histogram d into exclusive offsets; false when one bucket holds all n keys (the pass can be skipped).
function offsets(d: i32, n: i32): bool {
  const h = HIST + (<usize>(d * BUCKETS) << 2);
  let sum: u32 = 0;
  for (let b = 0; b < BUCKETS; b++) {
    const c = load<u32>(h + (<usize>b << 2));
    if (c == <u32>n) return false;
    store<u32>(h + (<usize>b << 2), sum);
    sum += c;
  }
  return true;
}

// Sorts n keys at keys ascending (payload u32 values follow their keys when pay != 0), using tmp/tmpPay as the
// ping-pong buffers. The result always ends in keys/pay.
function radixSort<K>(keys: usize, pay: usize, tmp: usize, tmpPay: usize, n: i32): void {
  if (n < 2) return;
  const w = sizeof<K>();
  const passes = sizeof<K>() == 4 ? 3 : 6;
  histograms<K>(keys, n, passes);
  let src = keys;
  let dst = tmp;
  let srcPay = pay;
  let dstPay = tmpPay;
  for (let d = 0; d < passes; d++) {
    if (!offsets(d, n)) continue;
    const h = HIST + (<usize>(d * BUCKETS) << 2);
    const shift = <K>(<u32>d * DIGIT_BITS);
    if (pay != 0) {
      for (let i = 0; i < n; i++) {
        const k = load<K>(src + <usize>i * w);
        const slot = h + (<usize>((k >> shift) & 0x7ff) << 2);
        const o = load<u32>(slot);
        store<u32>(slot, o + 1);
        store<K>(dst + <usize>o * w, k);
        store<u32>(dstPay + (<usize>o << 2), load<u32>(srcPay + (<usize>i << 2)));
      }
    } else {
      for (let i = 0; i < n; i++) {
        const k = load<K>(src + <usize>i * w);
        const slot = h + (<usize>((k >> shift) & 0x7ff) << 2);
        const o = load<u32>(slot);
        store<u32>(slot, o + 1);
        store<K>(dst + <usize>o * w, k);
      }
    }
    const t = src;
    src = dst;
    dst = t;
    const tp = srcPay;
    srcPay = dstPay;
    dstPay = tp;
  }
  if (src != keys) {
    memory.copy(keys, src, <usize>n * w);
    if (pay != 0) memory.copy(pay, srcPay, <usize>n << 2);
  }
}

export function sort32(keys: usize, pay: usize, tmp: usize, tmpPay: usize, n: i32): void {
  radixSort<u32>(keys, pay, tmp, tmpPay, n);
}

export function sort64(keys: usize, pay: usize, tmp: usize, tmpPay: usize, n: i32): void {
  radixSort<u64>(keys, pay, tmp, tmpPay, n);
}

// ---- Runs: sorted keys compressed in place to distinct keys, with their multiplicities written to cnt.

function runs<K>(keys: usize, n: i32, cnt: usize): i32 {
  if (n == 0) return 0;
  const w = sizeof<K>();
  let cur = load<K>(keys);
  let c: u32 = 1;
  let j = 0;
  for (let i = 1; i < n; i++) {
    const k = load<K>(keys + <usize>i * w);
    if (k == cur) {
      c++;
    } else {
      store<K>(keys + <usize>j * w, cur);
      store<u32>(cnt + (<usize>j << 2), c);
      j++;
      cur = k;
      c = 1;
    }
  }
  store<K>(keys + <usize>j * w, cur);
  store<u32>(cnt + (<usize>j << 2), c);
  return j + 1;
}

export function runs32(keys: usize, n: i32, cnt: usize): i32 {
  return runs<u32>(keys, n, cnt);
}

export function runs64(keys: usize, n: i32, cnt: usize): i32 {
  return runs<u64>(keys, n, cnt);
}

// Runs of positives with their per-region-overlap mass. A pixel of a region of s pixels carries 1/s of a region,
// held as the 64-bit fixed-point fraction floor((2^64 - 1) / s): integer sums are associative, so merged shards
// give bit-identical totals, and a region's pixels together fall short of 1 by less than s * 2^-64.
// Per run: count -> cnt, whole regions -> whole, fraction high/low 32 bits -> fracHi/fracLo. fracLo may alias
// sizes (run j is written only after sizes[j] has been read).
function proRuns<K>(keys: usize, sizes: usize, n: i32, cnt: usize, whole: usize, fracHi: usize, fracLo: usize): i32 {
  if (n == 0) return 0;
  const w = sizeof<K>();
  let cur = load<K>(keys);
  let c: u32 = 0;
  let wh: u64 = 0;
  let fr: u64 = 0;
  let j = 0;
  for (let i = 0; i < n; i++) {
    const k = load<K>(keys + <usize>i * w);
    const inc = u64.MAX_VALUE / <u64>load<u32>(sizes + (<usize>i << 2));
    if (k != cur) {
      store<K>(keys + <usize>j * w, cur);
      store<u32>(cnt + (<usize>j << 2), c);
      store<u32>(whole + (<usize>j << 2), <u32>wh);
      store<u32>(fracHi + (<usize>j << 2), <u32>(fr >> 32));
      store<u32>(fracLo + (<usize>j << 2), <u32>fr);
      j++;
      cur = k;
      c = 0;
      wh = 0;
      fr = 0;
    }
    c++;
    const f = fr + inc;
    wh += <u64>(f < fr);
    fr = f;
  }
  store<K>(keys + <usize>j * w, cur);
  store<u32>(cnt + (<usize>j << 2), c);
  store<u32>(whole + (<usize>j << 2), <u32>wh);
  store<u32>(fracHi + (<usize>j << 2), <u32>(fr >> 32));
  store<u32>(fracLo + (<usize>j << 2), <u32>fr);
  return j + 1;
}

export function proRuns32(keys: usize, sizes: usize, n: i32, cnt: usize, whole: usize, fracHi: usize, fracLo: usize): i32 {
  return proRuns<u32>(keys, sizes, n, cnt, whole, fracHi, fracLo);
}

export function proRuns64(keys: usize, sizes: usize, n: i32, cnt: usize, whole: usize, fracHi: usize, fracLo: usize): i32 {
  return proRuns<u64>(keys, sizes, n, cnt, whole, fracHi, fracLo);
}
