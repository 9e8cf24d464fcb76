// Locating a method's resources (src/methods/resources.ts) for `texad run`: --weights FILE|random (one weights
// resource), --weights-dir DIR or $TEXAD_WEIGHTS (every resource: DIR/<name>.safetensors, image folders DIR/<name>/).
// Every missing item is reported at once, with how to get it, before any work starts.
import { readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { WEIGHTS_ENV, conventionalWeightsPath } from '../backbones/weights.ts';
import { checkImageFile } from '../data/discover.ts';
import { fileImages } from '../eval/evaluate.ts';
import { SafetensorsReader, fileSource } from '../io/safetensors.ts';
import type { RegisteredMethod } from '../methods/index.ts';
import { weightsHowTo, type ResolvedResources } from '../methods/resources.ts';
import type { WeightsOrigin } from '../report/results.ts';
import { UsageError } from './args.ts';

const IMAGE_FILE = /\.(png|jpe?g|bmp|tiff?)$/i;

export interface ResourceFlags {
  /** --weights: a safetensors path, or 'random' (every weights resource random, explicitly). */
  weights?: string;
  /** --weights-dir, else $TEXAD_WEIGHTS. */
  weightsDir?: string;
  /** Image-folder resources named on the command line, by key (--penalty-data DIR is `penalty`); override the dir. */
  folders?: Record<string, string>;
}

export interface ResourcePlan {
  /** Key → absolute path, or 'random' (recorded in run.json and the report). */
  where: Record<string, string>;
  /** Lines to print: the random fallbacks, labelled. */
  notes: string[];
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then((s) => s.isFile(), () => false);
}

/** Image files under `dir`, recursively, sorted (so the resource is the same on every machine). */
async function imageFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile() && IMAGE_FILE.test(e.name)).map((e) => join(e.parentPath, e.name)).sort();
}

/** 'path: reason' for each file whose header does not parse as an image (checked before any work starts). */
async function unreadableImages(files: readonly string[]): Promise<string[]> {
  const bad: string[] = [];
  for (const f of files) {
    await checkImageFile(f).catch((err: unknown) => bad.push(`${f}: ${err instanceof Error ? err.message : String(err)}`));
  }
  return bad;
}

/**
 * Where each resource of `method` under `preset` + `overrides` comes from. Throws one error listing every missing
 * resource with how to get it. Weights fall back to seeded random ones (labelled in `notes`) only when no
 * directory and no file were given at all.
 */
export async function planResources(method: RegisteredMethod, preset: string, overrides: Record<string, unknown>,
  flags: ResourceFlags): Promise<ResourcePlan> {
  const specs = method.resources(preset, overrides);
  const weightKeys = Object.keys(specs).filter((k) => specs[k]!.kind === 'weights');
  if (flags.weights && flags.weights !== 'random' && weightKeys.length !== 1) {
    throw new UsageError(`--weights names one file, but ${method.name} (${preset}) needs ${weightKeys.length} weights ` +
      `(${weightKeys.join(', ') || 'none'}); put them in a folder as <name>.safetensors and pass --weights-dir DIR`);
  }
  for (const key of Object.keys(flags.folders ?? {})) {
    if (specs[key]?.kind !== 'images') {
      throw new UsageError(`${method.name} (${preset}) has no image-folder resource '${key}' (it needs ${Object.keys(specs).join(', ') || 'none'})`);
    }
  }
  const envDir = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[WEIGHTS_ENV];
  const dir = flags.weightsDir ?? envDir;
  const dirLabel = flags.weightsDir ? '--weights-dir' : `$${WEIGHTS_ENV}`;
  const where: Record<string, string> = {};
  const notes: string[] = [];
  const missing: string[] = [];
  for (const [key, spec] of Object.entries(specs)) {
    if (spec.kind === 'weights') {
      if (flags.weights === 'random' || (!flags.weights && !dir)) {
        where[key] = 'random';
        notes.push(`${key}: seeded random ${spec.name} weights (${flags.weights === 'random' ? '--weights random' : 'no ImageNet weights given'}; ` +
          'figures on random weights say nothing about real data; see README "Backbones and weights")');
        continue;
      }
      const path = resolve(flags.weights ?? conventionalWeightsPath(spec.name, dir)!);
      if (await isFile(path)) where[key] = path;
      else missing.push(`${key}: ${spec.purpose}: no file ${path}${flags.weights ? ' (--weights)' : ` (${dirLabel})`}; get it: ${weightsHowTo(spec)}`);
    } else {
      const given = flags.folders?.[key];
      const folder = given ? resolve(given) : dir ? resolve(dir, spec.name) : undefined;
      const files = folder ? await imageFiles(folder) : [];
      // A folder named on the command line, or an optional one that exists, was meant to be used: empty or
      // unreadable is an error that stops the run before any training, not a silent fallback.
      const present = folder !== undefined && (given !== undefined || await stat(folder).then((st) => st.isDirectory(), () => false));
      const unreadable = await unreadableImages(files);
      if (files.length > 0 && unreadable.length === 0) where[key] = folder!;
      else if (unreadable.length > 0) {
        missing.push(`${key}: ${spec.purpose}: ${unreadable.length} of ${files.length} images in ${folder} cannot be read: ` +
          `${unreadable.slice(0, 5).join('; ')}${unreadable.length > 5 ? '; …' : ''}`);
      } else if (!spec.optional || present) {
        const where = given ? `no readable images in ${folder} (given on the command line)` : folder ? `no images in ${folder}` : undefined;
        missing.push(`${key}: ${spec.purpose}: ${where ?? `no folder (pass --weights-dir DIR with DIR/${spec.name}/)`}; ` +
          `get them: ${spec.howTo}`);
      } else notes.push(`${key}: no ${spec.name} folder${folder ? ` (${folder})` : ''}, so the method's built-in fallback is used (${spec.purpose})`);
    }
  }
  if (missing.length > 0) {
    throw new Error(`${method.name} (preset ${preset}) cannot start; ${missing.length} resource(s) missing:\n  - ` +
      missing.join('\n  - ') + (weightKeys.length > 0 ? '\n(or pass --weights random for seeded random weights)' : ''));
  }
  return { where, notes };
}

/** The planned resources as a detector takes them: weight paths as given, image folders as decoded images. */
export async function loadResources(method: RegisteredMethod, preset: string, overrides: Record<string, unknown>,
  plan: ResourcePlan): Promise<ResolvedResources> {
  const specs = method.resources(preset, overrides);
  const out: ResolvedResources = {};
  for (const [key, path] of Object.entries(plan.where)) {
    out[key] = specs[key]!.kind === 'weights' ? path : fileImages(await imageFiles(path));
  }
  return out;
}

/**
 * Each planned weights resource's network and the origin of its weights, for results.json and the report: seeded
 * random, or what the file's metadata says (`texad.origin` from `texad weights import`/TF.js conversion, else
 * `texad.source` from tools/export-weights.py and `texad weights convert/fetch`). Reads only the files' headers.
 */
export async function weightsOrigins(method: RegisteredMethod, preset: string, overrides: Record<string, unknown>,
  plan: ResourcePlan): Promise<Record<string, WeightsOrigin>> {
  const specs = method.resources(preset, overrides);
  const out: Record<string, WeightsOrigin> = {};
  for (const [key, path] of Object.entries(plan.where)) {
    const spec = specs[key]!;
    if (spec.kind !== 'weights') continue;
    if (path === 'random') {
      out[key] = { arch: spec.name, origin: 'seeded random weights' };
      continue;
    }
    const reader = await SafetensorsReader.open(await fileSource(path));
    const meta = reader.metadata;
    await reader.close();
    const source = meta['texad.source'];
    out[key] = {
      arch: meta['texad.arch'] ?? spec.name,
      origin: meta['texad.origin'] ?? (source ? `from ${source}` : `unknown (${path} records no origin)`),
    };
  }
  return out;
}
