// Order-preserving integer keys for float scores ("FloatFlip", M. Herf): unsigned integer order of the keys equals
// numeric order of the floats, so a radix sort of keys is a numeric sort. -0 is canonicalised to +0 first: the two
// compare equal (scikit-learn puts them in one tie group) but their flipped bit patterns differ. Non-finite values
// are reported, never keyed: NaN has no place in an order and +-Inf is rejected by scikit-learn as well.

// Rewrites n f32 scores at ptr in place as u32 keys. Returns the index of the first non-finite score, or -1
// (then nothing before that index is guaranteed rewritten).
export function keysF32(ptr: usize, n: i32): i32 {
  const expMask = i32x4.splat(0x7f800000);
  const signOnly = i32x4.splat(0x80000000);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const p = ptr + (<usize>i << 2);
    let b = v128.load(p);
    if (v128.any_true(i32x4.eq(v128.and(b, expMask), expMask))) return firstNonFinite32(ptr, i, n);
    b = v128.andnot(b, i32x4.eq(b, signOnly));
    v128.store(p, v128.xor(b, v128.or(i32x4.shr_s(b, 31), signOnly)));
  }
  for (; i < n; i++) {
    const p = ptr + (<usize>i << 2);
    let b = load<u32>(p);
    if ((b & 0x7f800000) == 0x7f800000) return i;
    if (b == 0x80000000) b = 0;
    store<u32>(p, b ^ (<u32>(<i32>b >> 31) | 0x80000000));
  }
  return -1;
}

function firstNonFinite32(ptr: usize, from: i32, n: i32): i32 {
  for (let i = from; i < n; i++) {
    if ((load<u32>(ptr + (<usize>i << 2)) & 0x7f800000) == 0x7f800000) return i;
  }
  return -1;
}

// Rewrites n f64 scores at ptr in place as u64 keys; same contract as keysF32.
export function keysF64(ptr: usize, n: i32): i32 {
  const expMask = i64x2.splat(0x7ff0000000000000);
  const signOnly = i64x2.splat(<i64>0x8000000000000000);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const p = ptr + (<usize>i << 3);
    let b = v128.load(p);
    if (v128.any_true(i64x2.eq(v128.and(b, expMask), expMask))) return firstNonFinite64(ptr, i, n);
    b = v128.andnot(b, i64x2.eq(b, signOnly));
    v128.store(p, v128.xor(b, v128.or(i64x2.shr_s(b, 63), signOnly)));
  }
  for (; i < n; i++) {
    const p = ptr + (<usize>i << 3);
    let b = load<u64>(p);
    if ((b & 0x7ff0000000000000) == 0x7ff0000000000000) return i;
    if (b == 0x8000000000000000) b = 0;
    store<u64>(p, b ^ (<u64>(<i64>b >> 63) | 0x8000000000000000));
  }
  return -1;
}

// Index of the first non-finite of n f64 values at ptr, or -1; checks without rewriting.
export function firstNonFiniteF64(ptr: usize, n: i32): i32 {
  const expMask = i64x2.splat(0x7ff0000000000000);
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    if (v128.any_true(i64x2.eq(v128.and(v128.load(ptr + (<usize>i << 3)), expMask), expMask))) break;
  }
  return firstNonFinite64(ptr, i, n);
}

function firstNonFinite64(ptr: usize, from: i32, n: i32): i32 {
  for (let i = from; i < n; i++) {
    if ((load<u64>(ptr + (<usize>i << 3)) & 0x7ff0000000000000) == 0x7ff0000000000000) return i;
  }
  return -1;
}

// 1 when every one of n finite f64 values at ptr is exactly a float32, so the scores can use 32-bit keys without
// merging distinct values into false ties; 0 otherwise.
export function f64FitsF32(ptr: usize, n: i32): i32 {
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const v = v128.load(ptr + (<usize>i << 3));
    if (!i64x2.all_true(f64x2.eq(f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(v)), v))) return 0;
  }
  for (; i < n; i++) {
    const v = load<f64>(ptr + (<usize>i << 3));
    if (<f64><f32>v != v) return 0;
  }
  return 1;
}

// Narrows n f64 values at ptr to f32 in place (the f32 array starts at ptr); used only after f64FitsF32.
export function demoteF64(ptr: usize, n: i32): void {
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    // Both narrowed values sit in the low 64 bits; moving them as one integer lane keeps their bits untouched.
    const v = f32x4.demote_f64x2_zero(v128.load(ptr + (<usize>i << 3)));
    store<i64>(ptr + (<usize>i << 2), i64x2.extract_lane(v, 0));
  }
  for (; i < n; i++) store<f32>(ptr + (<usize>i << 2), <f32>load<f64>(ptr + (<usize>i << 3)));
}

// Widens n f32 values at ptr to f64 in place, back to front so no value is overwritten before it is read.
export function promoteF32(ptr: usize, n: i32): void {
  for (let i = n - 1; i >= 0; i--) store<f64>(ptr + (<usize>i << 3), <f64>load<f32>(ptr + (<usize>i << 2)));
}

// Index of the first byte > 1 among n label bytes, or -1: labels and masks must be 0 or 1.
export function firstBadLabel(ptr: usize, n: i32): i32 {
  const one = i8x16.splat(1);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    if (v128.any_true(i8x16.gt_u(v128.load(ptr + <usize>i), one))) break;
  }
  for (; i < n; i++) if (load<u8>(ptr + <usize>i) > 1) return i;
  return -1;
}

// 1 when any of n mask bytes is non-zero.
export function anyNonZero(ptr: usize, n: i32): i32 {
  let i = 0;
  let acc = i8x16.splat(0);
  for (; i + 16 <= n; i += 16) acc = v128.or(acc, v128.load(ptr + <usize>i));
  if (v128.any_true(acc)) return 1;
  for (; i < n; i++) if (load<u8>(ptr + <usize>i) != 0) return 1;
  return 0;
}
