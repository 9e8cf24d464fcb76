// Compiled pipelines keyed by (family, entry, specialisation constants, binding counts). Shapes never enter the
// key: they travel in uniforms, so one pipeline serves every shape of a kernel variant.
import { SHADER_SOURCES } from '../generated/shaders.ts';
import { SHADER_STAGE_COMPUTE } from './buffers.ts';

/** Compile-time constants that select a kernel variant (tile sizes, workgroup size, flags). */
export type Specialization = Readonly<Record<string, number | boolean>>;

const ENTRY_HEADER = /^\/\/! entry (\w+)\s*$/m;
const DEFAULT_CONST = /^\/\/! default (\w+) = (\w+)\s*$/gm;
const USE = /^\/\/! use (\w+)\s*$/gm;
const LIBRARY = /^\/\/! library\s*$/m;

interface FamilySource {
  preamble: string;
  entries: Map<string, string>;
  /** `//! default NAME = VALUE` lines: constants the preamble uses, for entries that do not set them. */
  defaults: Record<string, number | boolean>;
  /** `//! use FAMILY` lines of the preamble: families whose preambles (helper functions) this one needs. */
  uses: string[];
}

/**
 * Splits `shaders/<family>.wgsl` into a shared preamble and one section per `//! entry NAME` header. Each
 * section declares its own bindings and a `main` entry point, so entries of one family can bind different
 * resources without clashing. A `//! library` file has no entries: it only holds helpers for `//! use`.
 */
export function parseFamily(family: string, source: string): FamilySource {
  const parts = source.split(ENTRY_HEADER);
  const entries = new Map<string, string>();
  for (let i = 1; i < parts.length; i += 2) entries.set(parts[i]!, parts[i + 1]!);
  const preamble = parts[0]!;
  if (entries.size === 0 && !LIBRARY.test(preamble)) {
    throw new Error(`texad: shaders/${family}.wgsl has no '//! entry NAME' section (add one, or mark a helper-only file '//! library')`);
  }
  for (const [entry, body] of entries) {
    if (body.match(USE)) {
      throw new Error(`texad: shaders/${family}.wgsl entry '${entry}' has a '//! use' line: put it in the preamble (before the first '//! entry')`);
    }
  }
  const defaults: Record<string, number | boolean> = {};
  for (const [, name, value] of preamble.matchAll(DEFAULT_CONST)) {
    defaults[name!] = value === 'true' ? true : value === 'false' ? false : Number(value);
  }
  const uses = [...preamble.matchAll(USE)].map((m) => m[1]!);
  return { preamble, entries, defaults, uses };
}

/**
 * The families whose preambles go before `family`'s own, dependencies first, each once: `//! use` resolved
 * transitively. `common` is always prepended, so using it adds nothing. Names the missing family or the cycle.
 */
export function resolveUses(family: string, sources: Readonly<Record<string, string>> = SHADER_SOURCES): string[] {
  const order: string[] = [];
  const done = new Set<string>(['common']);
  const visit = (name: string, path: string[]): void => {
    if (done.has(name)) return;
    if (path.includes(name)) {
      throw new Error(`texad: '//! use' cycle among shader families: ${[...path.slice(path.indexOf(name)), name].join(' -> ')}`);
    }
    const src = sources[name];
    if (src === undefined) {
      const by = path[path.length - 1]!;
      throw new Error(
        `texad: shaders/${by}.wgsl has '//! use ${name}' but there is no shader family '${name}' (expected shaders/${name}.wgsl; ` +
          `families: ${Object.keys(sources).sort().join(', ')})`,
      );
    }
    for (const dep of parseFamily(name, src).uses) visit(dep, [...path, name]);
    done.add(name);
    order.push(name);
  };
  const src = sources[family];
  if (src === undefined) throw new Error(`texad: no shader family '${family}' (expected shaders/${family}.wgsl)`);
  for (const dep of parseFamily(family, src).uses) visit(dep, [family]);
  return order;
}

const parsedFamilies = new Map<string, FamilySource & { included: string }>();

function familySource(family: string): FamilySource & { included: string } {
  let parsed = parsedFamilies.get(family);
  if (!parsed) {
    const src = SHADER_SOURCES[family];
    if (src === undefined) throw new Error(`texad: no shader family '${family}' (expected shaders/${family}.wgsl)`);
    const deps = resolveUses(family).map((dep) => ({ dep, ...parseFamily(dep, SHADER_SOURCES[dep]!) }));
    const own = parseFamily(family, src);
    parsed = {
      ...own,
      // A used preamble's `//! default` constants come along with it; the family's own override them.
      defaults: Object.assign({}, ...deps.map((d) => d.defaults), own.defaults) as Record<string, number | boolean>,
      included: deps.map((d) => `// ---- '//! use ${d.dep}': the preamble of shaders/${d.dep}.wgsl\n${d.preamble}`).join('\n'),
    };
    parsedFamilies.set(family, parsed);
  }
  return parsed;
}

function constDecl(name: string, value: number | boolean): string {
  if (typeof value === 'boolean') return `const ${name}: bool = ${value};`;
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`texad: specialisation constant ${name}=${value} must be a non-negative integer or boolean`);
  }
  return `const ${name}: u32 = ${value}u;`;
}

/** The constants an entry is compiled with: the family's declared defaults, overridden by the call's. */
function resolvedSpec(family: string, spec: Specialization): Specialization {
  const { defaults } = familySource(family);
  return Object.keys(defaults).length === 0 ? spec : { ...defaults, ...spec };
}

const CONDITIONAL = /^\s*\/\/! (if|else|endif)\b\s*(\w*)\s*$/;
const ENABLE = /^\s*enable\s+[\w\s,]+;\s*$/;

/**
 * Resolves `//! if NAME` / `//! else` / `//! endif` blocks of an entry against its constants (a block is kept when
 * NAME is true or non-zero; blocks nest), so one entry can hold text that only compiles in some variants, such
 * as calls of an extension's built-ins. WGSL wants `enable` directives before every declaration, so the kept
 * ones are returned apart, to open the module.
 */
export function resolveConditionals(family: string, entry: string, body: string, spec: Specialization): { body: string; enables: string[] } {
  const kept: string[] = [];
  const enables: string[] = [];
  const stack: { keep: boolean; seenElse: boolean }[] = [];
  const where = `shaders/${family}.wgsl entry '${entry}'`;
  for (const line of body.split('\n')) {
    const m = CONDITIONAL.exec(line);
    if (m) {
      const [, word, name] = m;
      if (word === 'if') {
        if (!name) throw new Error(`texad: ${where}: '//! if' needs a constant name`);
        if (!(name in spec)) throw new Error(`texad: ${where}: '//! if ${name}' names no constant of this entry (give it a '//! default')`);
        stack.push({ keep: Boolean(spec[name]), seenElse: false });
      } else if (word === 'else') {
        const top = stack[stack.length - 1];
        if (!top || top.seenElse) throw new Error(`texad: ${where}: '//! else' without an open '//! if'`);
        top.keep = !top.keep;
        top.seenElse = true;
      } else {
        if (!stack.pop()) throw new Error(`texad: ${where}: '//! endif' without an open '//! if'`);
      }
      continue;
    }
    if (!stack.every((s) => s.keep)) continue;
    if (ENABLE.test(line)) enables.push(line.trim());
    else kept.push(line);
  }
  if (stack.length > 0) throw new Error(`texad: ${where}: '//! if' without '//! endif'`);
  return { body: kept.join('\n'), enables };
}

/** The WGSL module text of one entry with its constants; exported for compile tests and error reports. */
export function entrySource(family: string, entry: string, callSpec: Specialization): string {
  const fam = familySource(family);
  const spec = resolvedSpec(family, callSpec);
  const body = fam.entries.get(entry);
  if (body === undefined) {
    if (fam.entries.size === 0) {
      throw new Error(`texad: shaders/${family}.wgsl is a '//! library' without entries: include it with '//! use ${family}'`);
    }
    throw new Error(`texad: shaders/${family}.wgsl has no entry '${entry}' (has: ${[...fam.entries.keys()].join(', ')})`);
  }
  const consts = Object.keys(spec).sort().map((k) => constDecl(k, spec[k]!)).join('\n');
  const resolved = resolveConditionals(family, entry, body, spec);
  const head = resolved.enables.length > 0 ? `${resolved.enables.join('\n')}\n` : '';
  return `${head}${consts}\n${SHADER_SOURCES['common'] ?? ''}\n${fam.included}\n${fam.preamble}\n${resolved.body}`;
}

export function pipelineKey(family: string, entry: string, callSpec: Specialization, inputs: number, outputs: number): string {
  const spec = resolvedSpec(family, callSpec);
  const consts = Object.keys(spec).sort().map((k) => `${k}=${spec[k]}`).join(',');
  return `${family}/${entry}[${consts}](${inputs}->${outputs})`;
}

export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly layouts = new Map<string, GPUPipelineLayout>();
  private readonly bindLayouts = new Map<string, GPUBindGroupLayout>();
  /** Validation results of pipelines created since the last check; awaited before results are read. */
  private pendingChecks: Promise<string | null>[] = [];
  compiled = 0;

  constructor(private readonly device: GPUDevice) {}

  bindGroupLayout(inputs: number, outputs: number): GPUBindGroupLayout {
    const key = `${inputs}:${outputs}`;
    let layout = this.bindLayouts.get(key);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: SHADER_STAGE_COMPUTE, buffer: { type: 'uniform' } },
      ];
      for (let i = 0; i < inputs + outputs; i++) {
        entries.push({
          binding: 1 + i,
          visibility: SHADER_STAGE_COMPUTE,
          buffer: { type: i < inputs ? 'read-only-storage' : 'storage' },
        });
      }
      layout = this.device.createBindGroupLayout({ entries, label: `texad ${key}` });
      this.bindLayouts.set(key, layout);
      this.layouts.set(key, this.device.createPipelineLayout({ bindGroupLayouts: [layout] }));
    }
    return layout;
  }

  get(family: string, entry: string, spec: Specialization, inputs: number, outputs: number): GPUComputePipeline {
    const key = pipelineKey(family, entry, spec, inputs, outputs);
    let pipeline = this.pipelines.get(key);
    if (pipeline) return pipeline;
    this.bindGroupLayout(inputs, outputs);
    const layout = this.layouts.get(`${inputs}:${outputs}`)!;
    const code = entrySource(family, entry, spec);
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: key });
    pipeline = this.device.createComputePipeline({ layout, compute: { module, entryPoint: 'main' }, label: key });
    this.pendingChecks.push(
      this.device.popErrorScope().then((err) =>
        err ? `WGSL pipeline ${key} (shaders/${family}.wgsl, entry '${entry}') failed to compile: ${err.message}` : null,
      ),
    );
    this.pipelines.set(key, pipeline);
    this.compiled++;
    return pipeline;
  }

  /** Throws the first compile/validation error of pipelines created since the last call. */
  async check(): Promise<void> {
    if (this.pendingChecks.length === 0) return;
    const checks = this.pendingChecks;
    this.pendingChecks = [];
    const errors = (await Promise.all(checks)).filter((e): e is string => e !== null);
    if (errors.length > 0) throw new Error(`texad: ${errors.join('\n')}`);
  }

  keys(): string[] {
    return [...this.pipelines.keys()];
  }
}
