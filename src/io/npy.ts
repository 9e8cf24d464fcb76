// NumPy .npy arrays (format versions 1.0, 2.0 and 3.0): the interchange format with numpy/PyTorch users.
// Little-endian, C-order only; anything else is refused with the dtype or layout named, never reinterpreted.

export type NpyDtype = '<f4' | '<f8' | '|u1' | '|b1' | '<i4' | '<i8' | '<u2' | '<i2';

export type NpyData = Float32Array | Float64Array | Uint8Array | Int32Array | BigInt64Array | Uint16Array | Int16Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

export interface NpyHeader {
  dtype: NpyDtype;
  shape: number[];
  /** Byte offset of the first element. */
  dataOffset: number;
  /** Bytes per element. */
  itemSize: number;
  /** Number of elements (product of the shape). */
  size: number;
}

const ITEM_SIZE: Record<NpyDtype, number> = { '<f4': 4, '<f8': 8, '|u1': 1, '|b1': 1, '<i4': 4, '<i8': 8, '<u2': 2, '<i2': 2 };

// Spellings numpy also writes for the same layouts: byte-sized types may carry '<', '>' or '=' instead of '|'.
const ALIASES: Record<string, NpyDtype> = { '<u1': '|u1', '>u1': '|u1', '=u1': '|u1', '<b1': '|b1', '>b1': '|b1', '=b1': '|b1' };

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Bytes needed to parse the header: the header length field ends at byte 12 for every format version. */
export const NPY_PREAMBLE_BYTES = 12;

/**
 * Parses the header of a .npy file. `bytes` must hold at least the whole header (the first 12 bytes tell its
 * length: see npyHeaderLength), not necessarily any data.
 */
export function parseNpyHeader(bytes: Uint8Array): NpyHeader {
  const headerLength = npyHeaderLength(bytes);
  const major = bytes[6]!;
  const start = major === 1 ? 10 : 12;
  if (bytes.length < start + headerLength) {
    throw new Error(`.npy header is truncated: expected ${start + headerLength} header bytes, got ${bytes.length}`);
  }
  const text = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new Error(`.npy header is not a numpy array header: ${JSON.stringify(text.trim())}`);
  }
  if (fortran === 'True') {
    throw new Error('.npy array is in Fortran order; save a C-order array (np.ascontiguousarray(a)) instead');
  }
  const dtype = ALIASES[descr] ?? descr;
  if (!(dtype in ITEM_SIZE)) {
    const endian = descr.startsWith('>') ? ' (big-endian; convert with a.astype(a.dtype.newbyteorder("<")))' : '';
    throw new Error(
      `.npy dtype '${descr}' is not supported${endian}; supported: ${Object.keys(ITEM_SIZE).join(' ')} ` +
        '(e.g. a.astype(np.float32) for scores, a.astype(np.uint8) for labels)',
    );
  }
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const n = Number(s.replace(/L$/, ''));
      if (!Number.isSafeInteger(n) || n < 0) throw new Error(`.npy shape entry '${s}' is not a dimension`);
      return n;
    });
  const size = shape.reduce((a, b) => a * b, 1);
  const itemSize = ITEM_SIZE[dtype as NpyDtype];
  return { dtype: dtype as NpyDtype, shape, dataOffset: start + headerLength, itemSize, size };
}

/** Length of the header dictionary (after the 10- or 12-byte preamble), from the first 12 bytes of a file. */
export function npyHeaderLength(bytes: Uint8Array): number {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new Error('not a .npy file: it does not start with the \\x93NUMPY magic');
  }
  const major = bytes[6]!;
  if (major === 1) return bytes[8]! | (bytes[9]! << 8);
  if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new Error('.npy header is truncated');
    return (bytes[8]! | (bytes[9]! << 8) | (bytes[10]! << 16)) + bytes[11]! * 0x1000000;
  }
  throw new Error(`.npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0 and 3.0 are)`);
}

/** Typed-array view (or copy, when misaligned) of `count` elements of `dtype` starting at `bytes[offset]`. */
export function npyElements(dtype: NpyDtype, bytes: Uint8Array, offset: number, count: number): NpyData {
  assertLittleEndianHost();
  const itemSize = ITEM_SIZE[dtype];
  const byteLength = count * itemSize;
  if (offset + byteLength > bytes.length) {
    throw new Error(`.npy data is truncated: expected ${byteLength} bytes of ${dtype}, found ${bytes.length - offset}`);
  }
  let buffer = bytes.buffer as ArrayBuffer;
  let byteOffset = bytes.byteOffset + offset;
  if (byteOffset % itemSize !== 0) {
    // Copy to an aligned buffer (subarray + set: a Node Buffer's slice() is a view, not a copy).
    const copy = new Uint8Array(byteLength);
    copy.set(bytes.subarray(offset, offset + byteLength));
    buffer = copy.buffer;
    byteOffset = 0;
  }
  switch (dtype) {
    case '<f4':
      return new Float32Array(buffer, byteOffset, count);
    case '<f8':
      return new Float64Array(buffer, byteOffset, count);
    case '|u1':
    case '|b1':
      return new Uint8Array(buffer, byteOffset, count);
    case '<i4':
      return new Int32Array(buffer, byteOffset, count);
    case '<i8':
      return new BigInt64Array(buffer, byteOffset, count);
    case '<u2':
      return new Uint16Array(buffer, byteOffset, count);
    case '<i2':
      return new Int16Array(buffer, byteOffset, count);
  }
}

/** Reads a whole .npy file. The data is a view into `bytes` where alignment allows, else a copy. */
export function readNpy(bytes: Uint8Array): NpyArray {
  const header = parseNpyHeader(bytes);
  const data = npyElements(header.dtype, bytes, header.dataOffset, header.size);
  return { dtype: header.dtype, shape: header.shape, data };
}

function dtypeOf(array: NpyData): NpyDtype {
  if (array instanceof Float32Array) return '<f4';
  if (array instanceof Float64Array) return '<f8';
  if (array instanceof Uint8Array) return '|u1';
  if (array instanceof Int32Array) return '<i4';
  if (array instanceof BigInt64Array) return '<i8';
  if (array instanceof Uint16Array) return '<u2';
  return '<i2';
}

/**
 * Serialises a C-order array as a version 1.0 .npy file. The dtype follows the typed array; pass '|b1' to store a
 * Uint8Array of 0/1 as numpy bool.
 */
export function writeNpy(array: NpyData, shape: readonly number[], dtype: NpyDtype = dtypeOf(array)): Uint8Array {
  assertLittleEndianHost();
  const size = shape.reduce((a, b) => a * b, 1);
  if (size !== array.length) {
    throw new Error(`writeNpy: shape (${shape.join(', ')}) holds ${size} elements but the array has ${array.length}`);
  }
  if (dtype === '|b1') {
    if (!(array instanceof Uint8Array)) throw new Error("writeNpy: dtype '|b1' needs a Uint8Array of 0/1");
  } else if (dtype !== dtypeOf(array)) {
    throw new Error(`writeNpy: a ${array.constructor.name} is stored as '${dtypeOf(array)}', not '${dtype}'`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces and a newline so the data starts on a 64-byte boundary, as numpy does.
  const unpadded = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (dict.length > 0xffff) throw new Error('writeNpy: shape too long for a version 1.0 header');
  const out = new Uint8Array(10 + dict.length + array.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  out[8] = dict.length & 0xff;
  out[9] = dict.length >> 8;
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  out.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), 10 + dict.length);
  return out;
}

function assertLittleEndianHost(): void {
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    throw new Error('.npy support needs a little-endian host');
  }
}
