// PyTorch checkpoints (torch.save since PyTorch 1.6): an uncompressed zip holding `<prefix>/data.pkl` (the pickled
// object, tensors as calls of torch._utils._rebuild_tensor_v2 on persistent storage ids) and `<prefix>/data/<key>`
// (each storage's raw little-endian bytes). Read with the restricted unpickler of ./pickle.ts: only tensor storages,
// (Ordered)dicts and torch's rebuild functions are accepted, so loading a checkpoint can never run code.
import { decodeToFloat32 } from './safetensors.ts';
import { PickleError, unpickle, type PickleGlobal, type PyDict } from './pickle.ts';

/** A file that is not a readable PyTorch checkpoint; the message names the file and the reason. */
export class TorchCheckpointError extends Error {}

/** Storage classes torch.save names: element size and all elements of a storage's bytes as float32. */
const STORAGES: Record<string, { bytes: number; decode(b: Uint8Array): Float32Array }> = {
  FloatStorage: { bytes: 4, decode: (b) => decodeToFloat32(b, 'F32') },
  HalfStorage: { bytes: 2, decode: (b) => decodeToFloat32(b, 'F16') },
  BFloat16Storage: { bytes: 2, decode: (b) => decodeToFloat32(b, 'BF16') },
  DoubleStorage: { bytes: 8, decode: (b) => Float32Array.from(new Float64Array(copy(b))) },
  LongStorage: { bytes: 8, decode: (b) => Float32Array.from(new BigInt64Array(copy(b)), Number) },
  IntStorage: { bytes: 4, decode: (b) => Float32Array.from(new Int32Array(copy(b))) },
  ShortStorage: { bytes: 2, decode: (b) => Float32Array.from(new Int16Array(copy(b))) },
  CharStorage: { bytes: 1, decode: (b) => Float32Array.from(new Int8Array(copy(b))) },
  ByteStorage: { bytes: 1, decode: (b) => Float32Array.from(b) },
  BoolStorage: { bytes: 1, decode: (b) => Float32Array.from(b) },
};

/** An aligned copy of `b` that typed arrays may view (zip entries start at any byte). */
function copy(b: Uint8Array): ArrayBuffer {
  return new Uint8Array(b).buffer;
}

/** A tensor of a checkpoint: a strided view of a storage, decoded to float32 on demand. */
export class TorchTensor {
  constructor(
    readonly storage: { kind: string; key: string },
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
    /** The storage's dtype name, e.g. 'FloatStorage'. */
    readonly dtype: string,
  ) {}
}

/** What data.pkl held: nested Maps (dicts), arrays (lists/tuples), numbers, strings and TorchTensors. */
export interface TorchCheckpoint {
  name: string;
  root: unknown;
  /** The values of `t` as float32, contiguous, in row-major order (any stride and offset). */
  values(t: TorchTensor): Float32Array;
}

interface ZipEntry {
  name: string;
  method: number;
  size: number;
  /** Offset of the entry's local header. */
  local: number;
}

function zipEntries(bytes: Uint8Array, name: string): Map<string, ZipEntry> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why: string) => new TorchCheckpointError(`${name} ${why}`);
  // The end-of-central-directory record is in the last 22 + 65535 bytes (its comment may be up to 64 KB).
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 65535); i--) {
    if (v.getUint32(i, true) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) {
    const legacy = bytes.length > 2 && bytes[0] === 0x80;
    throw bad(legacy
      ? 'is a pickle without a zip around it: the legacy torch.save format (PyTorch < 1.6), which texad does not read; ' +
        're-save it with a current PyTorch (torch.save(torch.load(f), f))'
      : 'is not a PyTorch checkpoint, or is truncated: no zip directory at its end (torch.save writes a zip)');
  }
  const count = v.getUint16(eocd + 10, true);
  let at = v.getUint32(eocd + 16, true);
  const entries = new Map<string, ZipEntry>();
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || v.getUint32(at, true) !== 0x02014b50) throw bad('has a damaged zip directory');
    const nameLen = v.getUint16(at + 28, true);
    const extraLen = v.getUint16(at + 30, true);
    const commentLen = v.getUint16(at + 32, true);
    const entryName = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLen));
    const size = v.getUint32(at + 24, true);
    const local = v.getUint32(at + 42, true);
    if (size === 0xffffffff || local === 0xffffffff) throw bad(`holds zip64 entries (${entryName}); texad reads zip32`);
    entries.set(entryName, { name: entryName, method: v.getUint16(at + 10, true), size, local });
    at += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

function entryBytes(bytes: Uint8Array, e: ZipEntry, name: string): Uint8Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (e.method !== 0) {
    throw new TorchCheckpointError(`${name}: zip entry ${e.name} is compressed (method ${e.method}); torch.save ` +
      'stores entries uncompressed, so this file was re-packed; re-save it with torch.save');
  }
  if (e.local + 30 > bytes.length || v.getUint32(e.local, true) !== 0x04034b50) {
    throw new TorchCheckpointError(`${name}: zip entry ${e.name} has no local header (damaged file)`);
  }
  const start = e.local + 30 + v.getUint16(e.local + 26, true) + v.getUint16(e.local + 28, true);
  if (start + e.size > bytes.length) {
    throw new TorchCheckpointError(`${name} is truncated: entry ${e.name} ends at byte ${start + e.size}, ` +
      `the file has ${bytes.length}`);
  }
  return bytes.subarray(start, start + e.size);
}

const ALLOWED = 'tensor storages (torch.FloatStorage ...), collections.OrderedDict and torch._utils._rebuild_tensor_v2 / ' +
  '_rebuild_parameter';

function product(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Reads a torch.save file held in memory. Throws TorchCheckpointError or PickleError naming `name` and the reason. */
export function readTorchCheckpoint(bytes: Uint8Array, name: string): TorchCheckpoint {
  const entries = zipEntries(bytes, name);
  const pkl = [...entries.keys()].find((k) => /^[^/]*\/data\.pkl$/.test(k));
  if (!pkl) {
    throw new TorchCheckpointError(`${name} is a zip but not a PyTorch checkpoint: it has no <name>/data.pkl`);
  }
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const order = entries.get(`${prefix}byteorder`);
  if (order && new TextDecoder().decode(entryBytes(bytes, order, name)) !== 'little') {
    throw new TorchCheckpointError(`${name} was saved on a big-endian machine; texad reads little-endian checkpoints`);
  }
  const storages = new Map<string, { kind: string; key: string; bytes: Uint8Array }>();
  const storageGlobal = (kind: string): PickleGlobal => ({ call: () => { throw new PickleError(`${name}: ${kind} called`); } });
  const globals: Record<string, PickleGlobal> = {
    'collections OrderedDict': { call: () => new Map(), build: () => {} /* state dicts carry `_metadata`; unused */ },
    'torch._utils _rebuild_tensor_v2': { call: (a) => rebuild(a) },
    'torch._utils _rebuild_tensor': { call: (a) => rebuild(a) },
    'torch._utils _rebuild_parameter': {
      call: (a) => {
        if (!(a[0] instanceof TorchTensor)) throw new PickleError(`${name}: _rebuild_parameter of a non-tensor`);
        return a[0];
      },
    },
  };
  const kinds = new Map<PickleGlobal, string>();
  for (const kind of Object.keys(STORAGES)) {
    const g = storageGlobal(kind);
    globals[`torch ${kind}`] = g;
    kinds.set(g, kind);
  }
  function rebuild(a: unknown[]): TorchTensor {
    const [storage, offset, shape, stride] = a as [unknown, unknown, unknown, unknown];
    const ints = (x: unknown) => Array.isArray(x) && x.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!storage || typeof storage !== 'object' || !('bytes' in storage) || !Number.isSafeInteger(offset) ||
        !ints(shape) || !ints(stride) || (shape as number[]).length !== (stride as number[]).length) {
      throw new PickleError(`${name}: a tensor record with unexpected arguments`);
    }
    const s = storage as { kind: string; key: string; bytes: Uint8Array };
    const dims = shape as number[];
    const last = product(dims) === 0 ? 0 : (offset as number) + dims.reduce((m, d, i) => m + (d - 1) * (stride as number[])[i]!, 0);
    if ((last + 1) * STORAGES[s.kind]!.bytes > s.bytes.length && product(dims) > 0) {
      throw new TorchCheckpointError(`${name}: a tensor of shape [${dims.join(', ')}] reaches past its storage ` +
        `${s.key} (${s.bytes.length} bytes; damaged file)`);
    }
    return new TorchTensor(s, offset as number, dims, stride as number[], s.kind);
  }
  const persistentLoad = (pid: unknown) => {
    const [tag, type, key, , numel] = Array.isArray(pid) ? pid : [];
    const kind = kinds.get(type as PickleGlobal);
    if (tag !== 'storage' || kind === undefined || typeof key !== 'string') {
      throw new PickleError(`${name}: a persistent id that is not a tensor storage record`);
    }
    let s = storages.get(key);
    if (!s) {
      const e = entries.get(`${prefix}data/${key}`);
      if (!e) throw new TorchCheckpointError(`${name}: storage ${key} is missing from the zip (truncated or damaged file)`);
      s = { kind, key, bytes: entryBytes(bytes, e, name) };
      if (Number.isSafeInteger(numel) && s.bytes.length < (numel as number) * STORAGES[kind]!.bytes) {
        throw new TorchCheckpointError(`${name}: storage ${key} has ${s.bytes.length} bytes, ` +
          `${numel} ${kind} elements need ${(numel as number) * STORAGES[kind]!.bytes}`);
      }
      storages.set(key, s);
    }
    return s;
  };
  const root = unpickle(entryBytes(bytes, entries.get(pkl)!, name), { globals, persistentLoad, name, allowed: ALLOWED });
  return {
    name,
    root,
    values(t) {
      const s = storages.get(t.storage.key)!;
      // One tensor at a time: its storage is decoded, gathered and dropped (storages are usually one tensor's).
      const all = STORAGES[t.dtype]!.decode(s.bytes);
      const out = new Float32Array(product(t.shape));
      const index = new Array<number>(t.shape.length).fill(0);
      for (let i = 0; i < out.length; i++) {
        let at = t.offset;
        for (let d = 0; d < index.length; d++) at += index[d]! * t.stride[d]!;
        out[i] = all[at]!;
        for (let d = index.length - 1; d >= 0; d--) {
          if (++index[d]! < t.shape[d]!) break;
          index[d] = 0;
        }
      }
      return out;
    },
  };
}

/**
 * The tensors of a state dict, by name: the pickled object itself, or its 'state_dict' entry (Lightning checkpoints).
 * Throws unless it is a dict of tensors.
 */
export function stateDict(ckpt: TorchCheckpoint): Map<string, TorchTensor> {
  let root = ckpt.root;
  if (root instanceof Map && root.get('state_dict') instanceof Map) root = root.get('state_dict');
  if (!(root instanceof Map)) {
    throw new TorchCheckpointError(`${ckpt.name} holds a ${Array.isArray(root) ? 'list' : typeof root}, not a state dict`);
  }
  const out = new Map<string, TorchTensor>();
  for (const [k, t] of root as PyDict) {
    if (typeof k !== 'string' || !(t instanceof TorchTensor)) {
      throw new TorchCheckpointError(`${ckpt.name} is not a state dict: entry ${JSON.stringify(String(k))} is not a tensor`);
    }
    out.set(k, t);
  }
  return out;
}
