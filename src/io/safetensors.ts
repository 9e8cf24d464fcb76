// safetensors (huggingface/safetensors): an 8-byte little-endian header length N, N bytes of JSON describing every
// tensor (dtype, shape, byte range), then the raw little-endian tensor bytes. Tensors are read one at a time through
// a ByteRangeSource, so a 270 MB checkpoint is never held in memory twice: from a file only the tensor being
// converted is resident; from in-memory bytes (browsers) only one converted copy of one tensor exists beside them.

/** The dtypes texad converts to float32 when reading and can write. */
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16';

/** Element sizes of every dtype the format defines, so headers listing integer tensors still validate. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E5M2: 1,
  I64: 8, I32: 4, I16: 2, I8: 1, U64: 8, U32: 4, U16: 2, U8: 1, BOOL: 1,
};

/** The safetensors reference implementation refuses headers above 100 MB; so does texad. */
const MAX_HEADER_BYTES = 100_000_000;

/** A malformed, truncated or mismatched safetensors file; the message names the file and the tensor. */
export class SafetensorsError extends Error {}

/** One header entry; `start`/`end` are absolute byte offsets in the file. */
export interface TensorInfo {
  dtype: string;
  shape: number[];
  start: number;
  end: number;
}

/** Random-access bytes: a file (Node, Deno) or a buffer (browsers pass fetched or picked-file bytes). */
export interface ByteRangeSource {
  /** The file path or a label, used in every error message. */
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** A ByteRangeSource over bytes already in memory; reads are views, not copies. */
export function bytesSource(bytes: Uint8Array, name = 'safetensors bytes'): ByteRangeSource {
  return {
    name,
    size: bytes.byteLength,
    read: async (offset, length) => bytes.subarray(offset, offset + length),
    close: async () => {},
  };
}

/**
 * A ByteRangeSource reading a file with positioned reads (Node and Deno). This is texad's only file-system access for
 * weights; node:fs is imported lazily so browser bundles that never call it do not need it.
 */
export async function fileSource(path: string): Promise<ByteRangeSource> {
  const fs = await import('node:fs/promises');
  let handle: Awaited<ReturnType<typeof fs.open>>;
  try {
    handle = await fs.open(path, 'r');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === 'ENOENT' ? 'does not exist' : `cannot be opened: ${(err as Error).message}`;
    throw new SafetensorsError(`weights file ${path} ${why}`);
  }
  const { size } = await handle.stat();
  return {
    name: path,
    size,
    async read(offset, length) {
      const buf = new Uint8Array(length);
      for (let done = 0; done < length;) {
        const { bytesRead } = await handle.read(buf, done, length - done, offset + done);
        if (bytesRead === 0) {
          throw new SafetensorsError(`${path}: the file ended at byte ${offset + done} while reading (truncated?)`);
        }
        done += bytesRead;
      }
      return buf;
    },
    close: () => handle.close(),
  };
}

function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function parseHeader(name: string, json: string, dataStart: number, fileSize: number): {
  tensors: Map<string, TensorInfo>;
  metadata: Record<string, string>;
} {
  let header: unknown;
  try {
    header = JSON.parse(json);
  } catch (err) {
    throw new SafetensorsError(`${name} is not a safetensors file: its header is not JSON (${(err as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) {
    throw new SafetensorsError(`${name} is not a safetensors file: its header is not a JSON object`);
  }
  const tensors = new Map<string, TensorInfo>();
  let metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (value === null || typeof value !== 'object' || !Object.values(value).every((m) => typeof m === 'string')) {
        throw new SafetensorsError(`${name}: __metadata__ must map strings to strings`);
      }
      metadata = value as Record<string, string>;
      continue;
    }
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const bad = (why: string) => new SafetensorsError(`${name}: header entry '${key}' ${why}`);
    if (typeof v.dtype !== 'string' || DTYPE_BYTES[v.dtype] === undefined) {
      throw bad(`has unknown dtype ${JSON.stringify(v.dtype)} (expected one of ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`has an invalid shape ${JSON.stringify(v.shape)}`);
    }
    const off = v.data_offsets;
    const offsetsOk = Array.isArray(off) && off.length === 2 && off.every((o) => Number.isSafeInteger(o) && o >= 0);
    if (!offsetsOk || off[0] > off[1]) {
      throw bad(`has invalid data_offsets ${JSON.stringify(off)}`);
    }
    const shape = v.shape as number[];
    const [begin, end] = off as [number, number];
    const expected = product(shape) * DTYPE_BYTES[v.dtype]!;
    if (end - begin !== expected) {
      throw bad(`covers ${end - begin} bytes but ${v.dtype} ${formatShape(shape)} needs ${expected}`);
    }
    if (dataStart + end > fileSize) {
      throw new SafetensorsError(
        `${name} is truncated: tensor '${key}' ends at byte ${dataStart + end} but the file has ${fileSize} bytes`,
      );
    }
    tensors.set(key, { dtype: v.dtype, shape, start: dataStart + begin, end: dataStart + end });
  }
  return { tensors, metadata };
}

let halfTable: Float32Array | null = null;

/** float16 bit pattern -> float32, tabulated once (64 K entries) because checkpoints convert millions of values. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) halfTable[h] = sign * mant * 2 ** -24;
    else if (exp === 31) halfTable[h] = mant ? NaN : sign * Infinity;
    else halfTable[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return halfTable;
}

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Typed-array views below reinterpret file bytes directly, which is only right on little-endian hosts. */
function assertLittleEndian(): void {
  if (!LITTLE_ENDIAN_HOST) throw new SafetensorsError('texad reads and writes safetensors only on little-endian hosts');
}

/** Converts little-endian raw tensor bytes to float32 (always a fresh array). */
export function decodeToFloat32(bytes: Uint8Array, dtype: SafetensorsDtype): Float32Array {
  assertLittleEndian();
  // Copy into a fresh, aligned buffer that the typed-array views below may reinterpret. Not bytes.slice():
  // on a Node Buffer (readFile's result) slice() is a view into the whole pooled buffer, not a copy.
  const own = new Uint8Array(bytes);
  if (dtype === 'F32') return new Float32Array(own.buffer, 0, own.byteLength / 4);
  const halves = new Uint16Array(own.buffer, 0, own.byteLength / 2);
  const out = new Float32Array(halves.length);
  if (dtype === 'F16') {
    const table = halfToFloatTable();
    for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]!]!;
  } else {
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < halves.length; i++) bits[i] = halves[i]! << 16;
  }
  return out;
}

/** Header of a safetensors file plus on-demand, per-tensor reads converted to float32. */
export class SafetensorsReader {
  private constructor(
    private readonly source: ByteRangeSource,
    /** Every tensor in the header, in header order. */
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    /** The free-form `__metadata__` string map (export-weights.py records the architecture there). */
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /** Parses the header; tensor bytes stay in the source until read(). Bytes are wrapped with bytesSource(). */
  static async open(source: ByteRangeSource | Uint8Array): Promise<SafetensorsReader> {
    const src = source instanceof Uint8Array ? bytesSource(source) : source;
    const name = src.name;
    if (src.size < 8) {
      throw new SafetensorsError(
        `${name} is not a safetensors file: ${src.size} bytes, too short for the 8-byte header length`,
      );
    }
    const lenBytes = await src.read(0, 8);
    const view = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
    const headerLength = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
    if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > src.size) {
      throw new SafetensorsError(
        `${name} is not a safetensors file or is truncated: the first 8 bytes announce a ${headerLength}-byte header ` +
          `but the file has ${src.size} bytes`,
      );
    }
    const headerBytes = await src.read(8, headerLength);
    if (headerBytes[0] !== 0x7b /* '{' */) {
      throw new SafetensorsError(`${name} is not a safetensors file: the header does not start with '{'`);
    }
    const json = new TextDecoder('utf-8', { fatal: false }).decode(headerBytes);
    const { tensors, metadata } = parseHeader(name, json, 8 + headerLength, src.size);
    return new SafetensorsReader(src, tensors, metadata);
  }

  /** The file path or label given by the source. */
  get name(): string {
    return this.source.name;
  }

  /**
   * Reads one tensor as float32. With `expectedShape`, throws unless the stored shape matches, naming the key and
   * both shapes; missing keys and dtypes other than F32/F16/BF16 throw too.
   */
  async read(key: string, expectedShape?: readonly number[]): Promise<Float32Array> {
    const info = this.tensors.get(key);
    if (!info) throw new SafetensorsError(`${this.name} has no tensor '${key}'`);
    const mismatch = (s: readonly number[]) => info.shape.length !== s.length || info.shape.some((d, i) => d !== s[i]);
    if (expectedShape && mismatch(expectedShape)) {
      throw new SafetensorsError(
        `${this.name}: tensor '${key}' has shape ${formatShape(info.shape)}, expected ${formatShape(expectedShape)}`,
      );
    }
    if (info.dtype !== 'F32' && info.dtype !== 'F16' && info.dtype !== 'BF16') {
      throw new SafetensorsError(`${this.name}: tensor '${key}' is ${info.dtype}; texad reads F32, F16 or BF16`);
    }
    return decodeToFloat32(await this.source.read(info.start, info.end - info.start), info.dtype);
  }

  close(): Promise<void> {
    return this.source.close();
  }
}

/** float32 -> float16 bits, round to nearest even; overflow goes to infinity, NaN stays NaN. */
function floatToHalf(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: the implicit 1 joins the mantissa, shifted so one unit is 2^-24.
    if (e < -10) return sign;
    const full = mant | 0x800000;
    const shift = 14 - e;
    let half = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** float32 -> bfloat16 bits, round to nearest even; NaN stays NaN. */
function floatToBfloat(bits: number): number {
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return (bits >>> 16) | 0x40;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

/** One tensor to write: float32 values, stored as `dtype` (default F32). */
export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array;
  dtype?: SafetensorsDtype;
}

/**
 * Serialises tensors in the given order. The header is padded with spaces to a multiple of 8 bytes, as the
 * reference writer does, so every tensor starts aligned.
 */
export function encodeSafetensors(
  tensors: Iterable<[string, TensorToWrite]> | Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): Uint8Array {
  assertLittleEndian();
  const list = Symbol.iterator in tensors ? [...tensors] : Object.entries(tensors);
  // No prototype: a tensor named '__proto__' must become a key, not replace the prototype.
  const header: Record<string, unknown> = Object.create(null);
  if (Object.keys(metadata).length > 0) header['__metadata__'] = metadata;
  let offset = 0;
  for (const [key, t] of list) {
    const dtype = t.dtype ?? 'F32';
    if (t.data.length !== product(t.shape)) {
      throw new SafetensorsError(
        `encodeSafetensors: tensor '${key}' has ${t.data.length} values but shape ${formatShape(t.shape)}`,
      );
    }
    const bytes = t.data.length * DTYPE_BYTES[dtype]!;
    header[key] = { dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((new TextEncoder().encode(json).length + 8) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerBytes.length, true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of list) {
    const dtype = t.dtype ?? 'F32';
    if (dtype === 'F32') {
      out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), pos);
      pos += t.data.byteLength;
      continue;
    }
    const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    const convert = dtype === 'F16' ? floatToHalf : floatToBfloat;
    for (let i = 0; i < bits.length; i++, pos += 2) view.setUint16(pos, convert(bits[i]!), true);
  }
  return out;
}
