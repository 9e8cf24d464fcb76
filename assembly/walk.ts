// One descending sweep over distinct scores computes every metric. The caller feeds the key space in blocks,
// highest first: one partition (a key prefix with ascending suffix runs) at a time, or a whole chunk of full keys.
// Each block holds ascending runs of negatives and of positives; the sweep aggregates equal keys across both lists
// (and duplicates within a list) into one curve point.
//
// Counts are exact integers: AUROC's Mann-Whitney numerator 2U = sum over positives of 2*#(neg below) + #(neg equal)
// is kept in 128 bits, and the per-region-overlap mass as a 64.64 fixed-point sum, so the sweep of a merged state
// reproduces the sweep of the unsplit data bit for bit.

const LIMIT: f64 = 0.3;
const TWO_POW_M64: f64 = 5.421010862427522e-20; // 2^-64

let totNeg: u64 = 0;
let totPos: u64 = 0;
let totRegions: u64 = 0;
let fp: u64 = 0;
let tp: u64 = 0;
let uLo: u64 = 0;
let uHi: u64 = 0;
let apSum: f64 = 0;
let apComp: f64 = 0;
let f1Num: u64 = 0;
let f1Den: u64 = 1;
let f1Key: u64 = 0;
let proWhole: u64 = 0;
let proFrac: u64 = 0;
let prevX: f64 = 0;
let prevY: f64 = 0;
let area: f64 = 0;
let areaComp: f64 = 0;
let proOpen: bool = false;

export function walkBegin(negatives: f64, positives: f64, regions: f64): void {
  totNeg = <u64>negatives;
  totPos = <u64>positives;
  totRegions = <u64>regions;
  fp = 0;
  tp = 0;
  uLo = 0;
  uHi = 0;
  apSum = 0;
  apComp = 0;
  f1Num = 0;
  f1Den = 1;
  f1Key = 0;
  proWhole = 0;
  proFrac = 0;
  prevX = 0;
  prevY = 0;
  area = 0;
  areaComp = 0;
  // The PRO curve needs both a negative to define FPR and a region to average over.
  proOpen = totNeg > 0 && totRegions > 0;
}

export function walkULo(): u64 {
  return uLo;
}
export function walkUHi(): u64 {
  return uHi;
}
// AP = sum over positive thresholds of (new positives / P) * precision.
export function walkAp(): f64 {
  return (apSum + apComp) / <f64>totPos;
}
export function walkF1(): f64 {
  return <f64>f1Num / <f64>f1Den;
}
// The key at which F1 is maximal, as two 32-bit halves (JS reads numbers, not BigInts, from these).
export function walkF1KeyLo(): u32 {
  return <u32>f1Key;
}
export function walkF1KeyHi(): u32 {
  return <u32>(f1Key >> 32);
}
export function walkProArea(): f64 {
  return area + areaComp;
}

// a * b as a 128-bit (hi, lo) pair; the high word lands in MUL_HI.
let MUL_HI: u64 = 0;
// @ts-ignore: decorator
@inline function mul128(a: u64, b: u64): u64 {
  if (((a | b) >> 32) == 0) {
    MUL_HI = 0;
    return a * b;
  }
  const aL = a & 0xffffffff;
  const aH = a >> 32;
  const bL = b & 0xffffffff;
  const bH = b >> 32;
  const ll = aL * bL;
  const lh = aL * bH;
  const hl = aH * bL;
  const mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);
  MUL_HI = aH * bH + (lh >> 32) + (hl >> 32) + (mid >> 32);
  return (ll & 0xffffffff) | (mid << 32);
}

// a/b >= c/d for counts, exactly.
// @ts-ignore: decorator
@inline function ratioAtLeast(a: u64, b: u64, c: u64, d: u64): bool {
  const l = mul128(a, d);
  const lh = MUL_HI;
  const r = mul128(c, b);
  const rh = MUL_HI;
  return lh > rh || (lh == rh && l >= r);
}

// The sweep keeps every accumulator in locals (wasm globals are memory accesses for the engine) and writes them
// back at the end of each block.
function walk<S>(
  base: u64,
  negSuf: usize,
  negCnt: usize,
  nNeg: i32,
  posSuf: usize,
  posCnt: usize,
  posWhole: usize,
  posFracHi: usize,
  posFracLo: usize,
  nPos: i32,
): void {
  const ws = sizeof<S>();
  const pro = posWhole != 0;
  const N = totNeg;
  const P = totPos;
  let _fp = fp;
  let _tp = tp;
  let _uLo = uLo;
  let _uHi = uHi;
  let _ap = apSum;
  let _apc = apComp;
  let _f1n = f1Num;
  let _f1d = f1Den;
  let _f1k = f1Key;
  let i = nNeg - 1;
  let j = nPos - 1;
  // Positive keys drive the sweep: AUROC, AP and F1 change only there. Negatives in between only move FP, so once
  // the PRO curve is closed (or for image metrics) they are summed in a tight loop.
  while (true) {
    const hasKey = j >= 0;
    const key: S = hasKey ? load<S>(posSuf + <usize>j * ws) : <S>0;
    while (i >= 0) {
      const k = load<S>(negSuf + <usize>i * ws);
      if (hasKey && k <= key) break;
      if (proOpen) {
        let c: u64 = 0;
        while (i >= 0 && load<S>(negSuf + <usize>i * ws) == k) {
          c += <u64>load<u32>(negCnt + (<usize>i << 2));
          i--;
        }
        _fp += c;
        proPoint(_fp, 0, 0);
      } else {
        _fp += <u64>load<u32>(negCnt + (<usize>i << 2));
        i--;
      }
    }
    if (!hasKey) break;
    let neg: u64 = 0;
    while (i >= 0 && load<S>(negSuf + <usize>i * ws) == key) {
      neg += <u64>load<u32>(negCnt + (<usize>i << 2));
      i--;
    }
    let pos: u64 = 0;
    let whole: u64 = 0;
    let frac: u64 = 0;
    while (j >= 0 && load<S>(posSuf + <usize>j * ws) == key) {
      const o = <usize>j << 2;
      pos += <u64>load<u32>(posCnt + o);
      if (pro) {
        const f = frac + ((<u64>load<u32>(posFracHi + o) << 32) | <u64>load<u32>(posFracLo + o));
        whole += <u64>load<u32>(posWhole + o) + <u64>(f < frac);
        frac = f;
      }
      j--;
    }
    _fp += neg;
    _tp += pos;
    // 2U gains, per positive here, 2 per negative below and 1 per negative tied.
    const lo = mul128(pos, ((N - _fp) << 1) + neg);
    const s = _uLo + lo;
    _uHi += MUL_HI + <u64>(s < lo);
    _uLo = s;
    // Neumaier-compensated: the sum runs over up to billions of thresholds.
    const v = <f64>pos * (<f64>_tp / <f64>(_tp + _fp));
    const t = _ap + v;
    _apc += Math.abs(_ap) >= v ? _ap - t + v : v - t + _ap;
    _ap = t;
    // F1 = 2PR/(P+R) = 2TP/(TP+FP+P), compared as exact fractions. ">=" keeps the lowest threshold among equal
    // maxima (torch.argmax over ascending thresholds, as anomalib's F1Max reports it).
    const num = _tp << 1;
    const den = _tp + _fp + P;
    if (ratioAtLeast(num, den, _f1n, _f1d)) {
      _f1n = num;
      _f1d = den;
      _f1k = base | <u64>key;
    }
    if (proOpen) proPoint(_fp, whole, frac);
  }
  fp = _fp;
  tp = _tp;
  uLo = _uLo;
  uHi = _uHi;
  apSum = _ap;
  apComp = _apc;
  f1Num = _f1n;
  f1Den = _f1d;
  f1Key = _f1k;
}

// One point of the PRO curve (FPR, mean region overlap), integrated up to FPR 0.3.
function proPoint(fpNow: u64, whole: u64, frac: u64): void {
  const f = proFrac + frac;
  proWhole += whole + <u64>(f < frac);
  proFrac = f;
  const x = <f64>fpNow / <f64>totNeg;
  const y = (<f64>proWhole + <f64>proFrac * TWO_POW_M64) / <f64>totRegions;
  if (x <= LIMIT) {
    addArea(0.5 * (y + prevY) * (x - prevX));
    prevX = x;
    prevY = y;
  } else {
    // MVTec AD's trapezoid(): when 0.3 is not itself a curve point, add the partial trapezoid up to 0.3 with PRO
    // interpolated linearly between the points on either side.
    if (prevX != LIMIT) {
      const yi = prevY + ((y - prevY) * (LIMIT - prevX)) / (x - prevX);
      addArea(0.5 * (yi + prevY) * (LIMIT - prevX));
    }
    proOpen = false;
  }
}

// Neumaier compensated summation.
// @ts-ignore: decorator
@inline function addArea(v: f64): void {
  const t = area + v;
  if (Math.abs(area) >= Math.abs(v)) areaComp += area - t + v;
  else areaComp += v - t + area;
  area = t;
}

// Partition sweeps: suffixes are the low 16 bits of 32-bit keys (u16) or the low 48 bits of 64-bit keys (f64,
// exact integers) under a prefix of the top 16 bits. Chunk sweeps: full u32 or u64 keys.
// posWhole == 0 means no region data (image-level metrics).
export function walk16(
  prefix: u32, negSuf: usize, negCnt: usize, nNeg: i32,
  posSuf: usize, posCnt: usize, posWhole: usize, posFracHi: usize, posFracLo: usize, nPos: i32,
): void {
  walk<u16>(<u64>prefix << 16, negSuf, negCnt, nNeg, posSuf, posCnt, posWhole, posFracHi, posFracLo, nPos);
}

export function walk48(
  prefix: u32, negSuf: usize, negCnt: usize, nNeg: i32,
  posSuf: usize, posCnt: usize, posWhole: usize, posFracHi: usize, posFracLo: usize, nPos: i32,
): void {
  walk<f64>(<u64>prefix << 48, negSuf, negCnt, nNeg, posSuf, posCnt, posWhole, posFracHi, posFracLo, nPos);
}

export function walk32(
  negKeys: usize, negCnt: usize, nNeg: i32,
  posKeys: usize, posCnt: usize, posWhole: usize, posFracHi: usize, posFracLo: usize, nPos: i32,
): void {
  walk<u32>(0, negKeys, negCnt, nNeg, posKeys, posCnt, posWhole, posFracHi, posFracLo, nPos);
}

export function walk64(
  negKeys: usize, negCnt: usize, nNeg: i32,
  posKeys: usize, posCnt: usize, posWhole: usize, posFracHi: usize, posFracLo: usize, nPos: i32,
): void {
  walk<u64>(0, negKeys, negCnt, nNeg, posKeys, posCnt, posWhole, posFracHi, posFracLo, nPos);
}
