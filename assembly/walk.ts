// One descending sweep over distinct scores computes every metric. The caller feeds the key space in blocks (one
// prefix at a time, highest first); each block holds ascending suffix runs of negatives and of positives, and the
// sweep aggregates equal suffixes across both lists (and duplicates within a list) into one curve point.
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
let f1Best: f64 = -1;
let f1Prefix: u32 = 0;
let f1Suffix: f64 = 0;
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
  f1Best = -1;
  f1Prefix = 0;
  f1Suffix = 0;
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
export function walkAp(): f64 {
  return apSum + apComp;
}
export function walkF1(): f64 {
  return f1Best;
}
export function walkF1Prefix(): u32 {
  return f1Prefix;
}
export function walkF1Suffix(): f64 {
  return f1Suffix;
}
export function walkProArea(): f64 {
  return area + areaComp;
}

// Neumaier compensated summation: the sums run over up to billions of points.
// @ts-ignore: decorator
@inline function addAp(v: f64): void {
  const t = apSum + v;
  if (Math.abs(apSum) >= Math.abs(v)) apComp += apSum - t + v;
  else apComp += v - t + apSum;
  apSum = t;
}

// @ts-ignore: decorator
@inline function addArea(v: f64): void {
  const t = area + v;
  if (Math.abs(area) >= Math.abs(v)) areaComp += area - t + v;
  else areaComp += v - t + area;
  area = t;
}

// (uHi, uLo) += a * b with a full 128-bit product.
function addMul(a: u64, b: u64): void {
  let lo: u64;
  let hi: u64;
  if (((a | b) >> 32) == 0) {
    lo = a * b;
    hi = 0;
  } else {
    const aL = a & 0xffffffff;
    const aH = a >> 32;
    const bL = b & 0xffffffff;
    const bH = b >> 32;
    const ll = aL * bL;
    const lh = aL * bH;
    const hl = aH * bL;
    const mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);
    lo = (ll & 0xffffffff) | (mid << 32);
    hi = aH * bH + (lh >> 32) + (hl >> 32) + (mid >> 32);
  }
  const s = uLo + lo;
  uHi += hi + <u64>(s < lo);
  uLo = s;
}

function point(prefix: u32, suffix: f64, neg: u64, pos: u64, whole: u64, frac: u64): void {
  fp += neg;
  if (pos != 0) {
    tp += pos;
    addMul(pos, ((totNeg - fp) << 1) + neg);
    addAp((<f64>pos / <f64>totPos) * (<f64>tp / <f64>(tp + fp)));
    // F1 = 2PR/(P+R) = 2TP/(TP+FP+P). ">=" keeps the lowest threshold among equal maxima (torch.argmax over
    // ascending thresholds, as anomalib's F1Max reports it).
    const f1 = <f64>(tp << 1) / <f64>(tp + fp + totPos);
    if (f1 >= f1Best) {
      f1Best = f1;
      f1Prefix = prefix;
      f1Suffix = suffix;
    }
  }
  if (proOpen) {
    const f = proFrac + frac;
    proWhole += whole + <u64>(f < frac);
    proFrac = f;
    const x = <f64>fp / <f64>totNeg;
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
}

function walk<S>(
  prefix: u32,
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
  let i = nNeg - 1;
  let j = nPos - 1;
  while (i >= 0 || j >= 0) {
    let key: S;
    if (j < 0) key = load<S>(negSuf + <usize>i * ws);
    else if (i < 0) key = load<S>(posSuf + <usize>j * ws);
    else {
      const a = load<S>(negSuf + <usize>i * ws);
      const b = load<S>(posSuf + <usize>j * ws);
      key = a > b ? a : b;
    }
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
    point(prefix, <f64>key, neg, pos, whole, frac);
  }
}

// Suffixes are the low 16 bits of 32-bit keys (u16) or the low 48 bits of 64-bit keys (f64, exact integers).
// posWhole == 0 means no region data (image-level metrics).
export function walk16(
  prefix: u32, negSuf: usize, negCnt: usize, nNeg: i32,
  posSuf: usize, posCnt: usize, posWhole: usize, posFracHi: usize, posFracLo: usize, nPos: i32,
): void {
  walk<u16>(prefix, negSuf, negCnt, nNeg, posSuf, posCnt, posWhole, posFracHi, posFracLo, nPos);
}

export function walk48(
  prefix: u32, negSuf: usize, negCnt: usize, nNeg: i32,
  posSuf: usize, posCnt: usize, posWhole: usize, posFracHi: usize, posFracLo: usize, nPos: i32,
): void {
  walk<f64>(prefix, negSuf, negCnt, nNeg, posSuf, posCnt, posWhole, posFracHi, posFracLo, nPos);
}
