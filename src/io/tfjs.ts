// TensorFlow.js model import without TensorFlow.js: reads a `model.json` (layers or graph model) and its weight
// shards, and decodes every weight to float32 exactly as tfjs-core's io.decodeWeights does (uint8/uint16
// quantised values are q * scale + min, float16 through the same half-to-float conversion, float32 as stored).
// Weights keep their TF.js/Keras names and shapes (Keras conv kernels stay [kh, kw, in, out]); the backbones
// that consume them transpose on load.
//
// Shards come as the binary files tensorflowjs_converter writes, or wrapped the way nsfwjs ships them: a UMD
// `.min.js` bundle whose single module exports the shard's bytes as a base64 string (and `model.min.js` exporting
// the model JSON as a JavaScript object literal). Those bundles are parsed as data, never executed.
import { decodeToFloat32 } from './safetensors.ts';

/** A malformed model, a manifest that does not match its shards, or missing shards; the message names them. */
export class TfjsError extends Error {}

/** One entry of a weights manifest group. */
export interface TfjsWeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; min?: number; scale?: number };
}

export interface TfjsWeightsGroup {
  paths: string[];
  weights: TfjsWeightSpec[];
}

/** The parsed `model.json` (or nsfwjs's `model.min.js`). */
export interface TfjsModelJson {
  /** 'layers-model' or 'graph-model' (old converters omit it for layers models). */
  format?: string;
  modelTopology: Record<string, unknown>;
  weightsManifest: TfjsWeightsGroup[];
}

/** A decoded weight: float32 values (int32 weights are converted), TF.js shape. */
export interface TfjsWeight {
  shape: number[];
  data: Float32Array;
}

/** A Keras layer of a layers model's topology. */
export interface KerasLayer {
  name: string;
  className: string;
  config: Record<string, unknown>;
  /** Names of the layers feeding it (first inbound node). */
  inputs: string[];
}

/** Reads a file next to model.json by relative path; undefined when it does not exist. */
export type ShardReader = (path: string) => Promise<Uint8Array | undefined>;

const BYTES: Readonly<Record<string, number>> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Parses a model.json text, or a UMD `.js` bundle exporting the same object. */
export function parseTfjsModel(text: string, name: string): TfjsModelJson {
  const value = text.trimStart().startsWith('{') ? parseJson(text, name) : umdExport(text, name);
  if (typeof value !== 'object' || value === null || !('weightsManifest' in value)) {
    throw new TfjsError(`${name} is not a TF.js model: it has no weightsManifest`);
  }
  const model = value as TfjsModelJson;
  if (!Array.isArray(model.weightsManifest)) throw new TfjsError(`${name}: weightsManifest is not a list of groups`);
  return model;
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TfjsError(`${name} is not valid JSON: ${(err as Error).message}`);
  }
}

/**
 * The value a browserify/UMD bundle of one data module exports: the literal after the first `.exports=` of the
 * module table. Only literals are accepted (strings, numbers, objects, arrays, !0/!1, null, void 0), so a bundle
 * holding code is refused rather than run.
 */
function umdExport(text: string, name: string): unknown {
  const m = /\[function\(\w+,(\w+),\w+\)\{\1\.exports=/.exec(text);
  if (!m) throw new TfjsError(`${name} is neither JSON nor a UMD bundle exporting one literal (as nsfwjs ships models)`);
  return new LiteralParser(text, m.index + m[0].length, name).value();
}

/** A parser for the JavaScript literals minifiers emit for JSON data. */
class LiteralParser {
  constructor(private readonly s: string, private i: number, private readonly name: string) {}

  private fail(what: string): never {
    throw new TfjsError(`${this.name}: ${what} at character ${this.i} ('${this.s.slice(this.i, this.i + 20)}')`);
  }

  value(): unknown {
    const s = this.s;
    const c = s[this.i];
    if (c === '{') return this.object();
    if (c === '[') return this.array();
    if (c === '"' || c === "'") return this.string();
    if (c === '!' && (s[this.i + 1] === '0' || s[this.i + 1] === '1')) {
      this.i += 2;
      return s[this.i - 1] === '0';
    }
    for (const [word, v] of [['true', true], ['false', false], ['null', null], ['void 0', undefined]] as const) {
      if (s.startsWith(word, this.i)) {
        this.i += word.length;
        return v;
      }
    }
    const num = /^-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?/i.exec(s.slice(this.i, this.i + 40));
    if (num) {
      this.i += num[0].length;
      return Number(num[0]);
    }
    return this.fail('expected a literal');
  }

  private object(): Record<string, unknown> {
    const out: Record<string, unknown> = Object.create(null);
    this.i++;
    while (this.s[this.i] !== '}') {
      let key: string;
      const c = this.s[this.i];
      if (c === '"' || c === "'") key = this.string();
      else {
        const m = /^[A-Za-z_$][\w$]*|^\d+/.exec(this.s.slice(this.i, this.i + 200));
        if (!m) this.fail('expected a property name');
        key = m[0];
        this.i += key.length;
      }
      if (this.s[this.i] !== ':') this.fail("expected ':'");
      this.i++;
      out[key] = this.value();
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== '}') this.fail("expected ',' or '}'");
    }
    this.i++;
    return out;
  }

  private array(): unknown[] {
    const out: unknown[] = [];
    this.i++;
    while (this.s[this.i] !== ']') {
      out.push(this.value());
      if (this.s[this.i] === ',') this.i++;
      else if (this.s[this.i] !== ']') this.fail("expected ',' or ']'");
    }
    this.i++;
    return out;
  }

  private string(): string {
    const quote = this.s[this.i]!;
    const start = ++this.i;
    const end = this.s.indexOf(quote, start);
    if (end < 0) this.fail('unterminated string');
    const raw = this.s.slice(start, end);
    if (!raw.includes('\\')) {
      this.i = end + 1;
      return raw;
    }
    // Escapes: walk character by character and let JSON decode the (double-quoted) result.
    let j = start;
    let body = '';
    for (; this.s[j] !== quote; j++) {
      if (j >= this.s.length) this.fail('unterminated string');
      if (this.s[j] === '\\') {
        body += this.s[j]! + this.s[j + 1]!;
        j++;
      } else body += this.s[j] === '"' ? '\\"' : this.s[j];
    }
    this.i = j + 1;
    return JSON.parse(`"${body.replace(/\\'/g, "'")}"`) as string;
  }
}

/** Bytes of a shard file: raw, or the base64 string a UMD `.js` shard exports. */
function shardBytes(bytes: Uint8Array, path: string): Uint8Array {
  if (!path.endsWith('.js')) return bytes;
  const value = umdExport(new TextDecoder().decode(bytes), path);
  if (typeof value !== 'string') throw new TfjsError(`${path}: a .js shard must export a base64 string`);
  return base64Decode(value, path);
}

function base64Decode(text: string, path: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new TfjsError(`${path}: the exported string is not base64`);
  const table = new Int16Array(128).fill(-1);
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'].forEach((c, i) => (table[c.charCodeAt(0)] = i));
  const clean = text.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    acc = (acc << 6) | table[clean.charCodeAt(i)]!;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >> bits) & 0xff;
    }
  }
  return out;
}

function byteLength(spec: TfjsWeightSpec): number {
  const dtype = spec.quantization?.dtype ?? spec.dtype;
  const per = BYTES[dtype];
  if (per === undefined) {
    throw new TfjsError(`weight '${spec.name}' is stored as ${dtype}; texad reads float32, int32, bool, float16, uint8, uint16`);
  }
  return spec.shape.reduce((a, b) => a * b, 1) * per;
}

/** One weight's values, decoded as tfjs-core's decodeWeight does. */
function decodeWeight(spec: TfjsWeightSpec, bytes: Uint8Array): Float32Array {
  const own = new Uint8Array(bytes); // aligned copy for the typed-array views
  const q = spec.quantization;
  if (!q) {
    if (spec.dtype === 'float32') return new Float32Array(own.buffer);
    if (spec.dtype === 'int32') return Float32Array.from(new Int32Array(own.buffer));
    return Float32Array.from(own); // bool
  }
  if (q.dtype === 'float16') {
    if (spec.dtype !== 'float32') throw new TfjsError(`weight '${spec.name}': float16 quantisation needs a float32 weight, not ${spec.dtype}`);
    return decodeToFloat32(own, 'F16');
  }
  if (typeof q.min !== 'number' || typeof q.scale !== 'number') {
    throw new TfjsError(`weight '${spec.name}' is ${q.dtype}-quantised but has no min and scale`);
  }
  const values = q.dtype === 'uint8' ? own : new Uint16Array(own.buffer);
  const out = new Float32Array(values.length);
  // Double-precision multiply-add rounded once to float32, as tfjs-core (int32 weights are rounded to integers).
  const round = spec.dtype === 'int32';
  for (let i = 0; i < values.length; i++) {
    const v = values[i]! * q.scale + q.min;
    out[i] = round ? Math.round(v) : v;
  }
  return out;
}

/**
 * Reads and decodes every weight of `model`. Shards are looked up by their manifest path, then with `.min.js`
 * appended when `jsShards` (nsfwjs's layout); all missing shards are named in one error. The shards of a group
 * are concatenated and must hold exactly the bytes the manifest describes; the first weight that does not fit is
 * named with both sizes.
 */
export async function readTfjsWeights(model: TfjsModelJson, read: ShardReader, modelName: string,
  { jsShards = false }: { jsShards?: boolean } = {}): Promise<Map<string, TfjsWeight>> {
  const groups: Uint8Array[][] = [];
  const missing: string[] = [];
  for (const group of model.weightsManifest) {
    const shards: Uint8Array[] = [];
    for (const path of group.paths) {
      const candidates = jsShards ? [path, `${path}.min.js`] : [path];
      let found: Uint8Array | undefined;
      for (const p of candidates) {
        const bytes = await read(p);
        if (bytes) {
          found = shardBytes(bytes, p);
          break;
        }
      }
      if (found) shards.push(found);
      else missing.push(candidates.join(' or '));
    }
    groups.push(shards);
  }
  if (missing.length > 0) {
    throw new TfjsError(`${modelName}: ${missing.length} weight shard(s) missing next to it: ${missing.join(', ')}`);
  }
  const out = new Map<string, TfjsWeight>();
  model.weightsManifest.forEach((group, g) => {
    const shards = groups[g]!;
    const total = shards.reduce((a, s) => a + s.byteLength, 0);
    const buffer = new Uint8Array(total);
    let pos = 0;
    for (const s of shards) {
      buffer.set(s, pos);
      pos += s.byteLength;
    }
    let offset = 0;
    for (const spec of group.weights) {
      const n = byteLength(spec);
      if (offset + n > total) {
        const stored = spec.quantization ? `${spec.quantization.dtype}-quantised` : spec.dtype;
        throw new TfjsError(
          `${modelName}: weight '${spec.name}' (${stored}, shape [${spec.shape.join(', ')}]) needs ${n} bytes but ` +
            `only ${Math.max(0, total - offset)} remain in shards ${group.paths.join(', ')} (${total} bytes in all): ` +
            `the manifest does not match the shards`,
        );
      }
      if (out.has(spec.name)) throw new TfjsError(`${modelName}: weight '${spec.name}' appears twice in the manifest`);
      out.set(spec.name, { shape: spec.shape, data: decodeWeight(spec, buffer.subarray(offset, offset + n)) });
      offset += n;
    }
    if (offset !== total) {
      const last = group.weights[group.weights.length - 1];
      throw new TfjsError(
        `${modelName}: shards ${group.paths.join(', ')} hold ${total} bytes but the manifest describes ${offset} ` +
          `(last weight '${last?.name ?? '(none)'}'): the manifest does not match the shards`,
      );
    }
  });
  return out;
}

/** The layers of a Keras layers model (Model/Functional or Sequential), in topology order. */
export function kerasLayers(model: TfjsModelJson): KerasLayer[] {
  const topo = model.modelTopology;
  const config = ((topo['model_config'] ?? topo) as { config?: unknown }).config;
  const list = Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers;
  if (!Array.isArray(list)) {
    throw new TfjsError(`not a Keras layers model (format ${model.format ?? 'unknown'}): no layer list in modelTopology`);
  }
  return (list as Array<Record<string, unknown>>).map((l) => {
    const config = (l['config'] ?? {}) as Record<string, unknown>;
    const nodes = (l['inbound_nodes'] ?? []) as unknown[][];
    const first = (nodes[0] ?? []) as unknown[][];
    return {
      name: String(l['name'] ?? config['name']),
      className: String(l['class_name']),
      config,
      inputs: first.map((n) => String(n[0])),
    };
  });
}

/**
 * Throws naming every layer type of `layers` outside `supported` (with an example layer of each), so a model
 * texad cannot run is refused before any weight is read.
 */
export function checkLayerTypes(layers: readonly KerasLayer[], supported: ReadonlySet<string>, arch: string): void {
  const unsupported = new Map<string, string>();
  for (const l of layers) if (!supported.has(l.className) && !unsupported.has(l.className)) unsupported.set(l.className, l.name);
  if (unsupported.size === 0) return;
  const list = [...unsupported].map(([type, example]) => `${type} (e.g. '${example}')`).join(', ');
  throw new TfjsError(`${arch}: texad does not implement the layer type(s) ${list}; it implements ${[...supported].join(', ')}`);
}

/** Node/Deno: reads `path` (model.json or model.min.js) and its shards from the same folder. */
export async function readTfjsModelFile(path: string): Promise<{ model: TfjsModelJson; weights: Map<string, TfjsWeight> }> {
  const fs = await import('node:fs/promises');
  const { dirname, join } = await import('node:path');
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    throw new TfjsError(`TF.js model ${path} cannot be read: ${(err as Error).message}`);
  }
  const model = parseTfjsModel(text, path);
  const dir = dirname(path);
  const read: ShardReader = async (p) => {
    try {
      return await fs.readFile(join(dir, p));
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return undefined;
      throw err;
    }
  };
  return { model, weights: await readTfjsWeights(model, read, path, { jsShards: path.endsWith('.js') }) };
}
