// `texad weights convert|fetch|import`: ImageNet and EfficientAD weights without Python. convert turns a PyTorch .pth
// or a TF.js model into the safetensors file texad loads (src/backbones/convert.ts); fetch downloads torchvision's
// official file first; import reads the ImageNet-initialised Keras networks an installed nsfwjs package ships.
// Every file is written under a temporary name and renamed only once complete and checked, so an interrupted run
// or a bad download never leaves a file texad would load.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { TFJS_ARCHS, TORCHVISION_FILES, convertTfjs, convertTorchCheckpoint, type ConvertedModel } from '../backbones/convert.ts';
import { encodeSafetensors, type TensorToWrite } from '../io/safetensors.ts';
import { readTfjsModelFile } from '../io/tfjs.ts';
import { WEIGHTS_ENV } from '../backbones/weights.ts';
import { UsageError, boolFlag, parseArgs, stringFlag, type ParsedArgs } from './args.ts';
import type { Command } from './main.ts';

/** Where fetch downloads from; $TEXAD_WEIGHTS_URL replaces it (a mirror, or a local server in tests). */
const DEFAULT_BASE = 'https://download.pytorch.org/models/';

/** $TEXAD_WEIGHTS, else ~/.cache/texad: where fetch puts `<arch>.safetensors`. */
export function weightsCacheDir(): string {
  return process.env[WEIGHTS_ENV] || join(homedir(), '.cache', 'texad');
}

/** Writes `bytes` to `path` through a temporary file in the same folder, so `path` appears only when complete. */
async function writeAtomically(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.partial-${process.pid}`;
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function convertFile(file: string, arch: string, out: string, prefix?: string, source?: string): Promise<void> {
  let bytes: Uint8Array = await readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`${file} ${err.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${err.message}`}`);
  });
  if (file.endsWith('.gz')) bytes = gunzipSync(bytes);
  const st = await convertTorchCheckpoint(bytes, arch, file, { prefix, source });
  await writeAtomically(out, st);
  console.log(`wrote ${out}: ${arch}, ${(st.byteLength / 1e6).toFixed(1)} MB`);
}

async function convert(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [file, ...extra] = args.positional;
  if (!file || extra.length > 0) throw new UsageError('convert takes one FILE.pth or model.json');
  if (/\.(json|js)$/.test(file)) return convertTfjsModel(file, args);
  if (!/\.(pth|pt|bin|ckpt)(\.gz)?$/.test(file)) {
    throw new UsageError(`${file}: convert reads PyTorch checkpoints (.pth, .pt, .ckpt, .bin, optionally .gz) and TF.js models (model.json, nsfwjs's model.min.js)`);
  }
  const arch = stringFlag(args, 'arch');
  const out = resolve(stringFlag(args, 'out', `${arch}.safetensors`));
  const prefix = args.flags.get('prefix');
  await convertFile(file, arch, out, typeof prefix === 'string' ? prefix : undefined);
  return 0;
}

async function download(url: string, to: string, sha256Prefix: string): Promise<void> {
  const tmp = `${to}.partial-${process.pid}`;
  try {
    const res = await fetch(url).catch((err: Error) => {
      throw new Error(`downloading ${url} failed: ${(err.cause as Error | undefined)?.message ?? err.message}`);
    });
    if (!res.ok || !res.body) throw new Error(`downloading ${url} failed: HTTP ${res.status} ${res.statusText}`);
    const hash = createHash('sha256');
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('data', (chunk: Buffer) => hash.update(chunk));
    await pipeline(body, createWriteStream(tmp));
    const digest = hash.digest('hex');
    if (!digest.startsWith(sha256Prefix)) {
      throw new Error(`${url}: sha256 ${digest} does not start with ${sha256Prefix} (from the file name): ` +
        'a damaged or substituted download; nothing was kept');
    }
    await rename(tmp, to);
  } finally {
    await rm(tmp, { force: true });
  }
}

async function fetchWeights(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const [arch, ...extra] = args.positional;
  if (!arch || extra.length > 0) throw new UsageError('fetch takes one NAME');
  const given = args.flags.get('url');
  const file = typeof given === 'string' ? given.replace(/^.*\//, '') : TORCHVISION_FILES[arch];
  if (!file) {
    throw new UsageError(`no torchvision download for '${arch}'; fetch knows ${Object.keys(TORCHVISION_FILES).join(', ')} ` +
      '(others, e.g. EfficientAD teachers: --url URL, or download the .pth and use texad weights convert)');
  }
  const hash = /-([0-9a-f]{6,64})\.pth$/.exec(file)?.[1];
  if (!hash) {
    throw new UsageError(`--url ${String(given)}: the file name must end in -<sha256 prefix>.pth, as torchvision's do`);
  }
  const dir = resolve(stringFlag(args, 'dir', weightsCacheDir()));
  const out = join(dir, `${arch}.safetensors`);
  const url = typeof given === 'string' ? given : (process.env['TEXAD_WEIGHTS_URL'] || DEFAULT_BASE).replace(/\/?$/, '/') + file;
  await mkdir(dir, { recursive: true });
  const pth = join(dir, file);
  console.log(`downloading ${url}`);
  await download(url, pth, hash);
  try {
    // Recorded as texad.source, which run reports name as the weights' origin.
    await convertFile(pth, arch, out, undefined, typeof given === 'string' ? basename(file) : `torchvision IMAGENET1K_V1 file ${file}`);
  } finally {
    await rm(pth, { force: true });
  }
  console.log(`use it: texad run ... --weights-dir ${dir} (or export ${WEIGHTS_ENV}=${dir})`);
  return 0;
}

/** The nsfwjs models `weights import nsfwjs` knows, with what is known of their origin (README "Backbones"). */
/** nsfwjs's models texad imports: `short` goes into reports (texad.origin), `origin` is the full note. */
const NSFWJS_MODELS: Record<string, { folder: string; arch: string; short: string; origin: string }> = {
  mobilenet_v2: {
    folder: 'mobilenet_v2',
    arch: 'mobilenet_v2',
    short: 'ImageNet-initialised Keras MobileNetV2 (ImageNet weights up to block_10), 8-bit',
    origin:
      'ImageNet-initialised Keras MobileNetV2 (width 1.0) fine-tuned by nsfwjs (MIT) for 5-class image ' +
      'classification with the layers up to block_10 frozen, i.e. ImageNet weights there; stored by nsfwjs as ' +
      '8-bit per-tensor quantised TF.js weights, dequantised here as TF.js does. nsfwjs feeds pixels / 255.',
  },
  inception_v3: {
    folder: 'inception_v3',
    arch: 'inception_v3',
    short: 'ImageNet-initialised Keras InceptionV3 (ImageNet weights up to mixed5), 8-bit',
    origin:
      'ImageNet-initialised Keras InceptionV3 fine-tuned by nsfwjs (MIT) for 5-class image classification with ' +
      'the layers up to mixed5 frozen, i.e. ImageNet weights there; stored by nsfwjs as 8-bit per-tensor ' +
      'quantised TF.js weights, dequantised here as TF.js does. nsfwjs feeds pixels / 255.',
  },
};

function checkFlags(args: ParsedArgs, known: string[]): void {
  for (const flag of args.flags.keys()) if (!known.includes(flag)) throw new UsageError(`unknown option --${flag}`);
}

function writeConverted(out: string, converted: ConvertedModel): void {
  mkdirSync(dirname(resolve(out)), { recursive: true });
  const tensors = [...converted.tensors].map(([k, t]): [string, TensorToWrite] => [k, { shape: t.shape, data: t.data }]);
  writeFileSync(out, encodeSafetensors(tensors, converted.metadata));
  const params = tensors.reduce((a, [, t]) => a + t.data.length, 0);
  console.log(`${out}  ${converted.arch ?? 'weights only (no architecture)'}, ${tensors.length} tensors, ${params} values`);
}

/** The folder of the installed nsfwjs package: --from, else node_modules/nsfwjs above the cwd or texad itself. */
function findNsfwjs(from: string | undefined): string {
  if (from !== undefined) {
    if (!existsSync(join(from, 'dist', 'models'))) throw new UsageError(`--from ${from} holds no dist/models: pass the nsfwjs package folder`);
    return from;
  }
  const starts = [process.cwd(), dirname(fileURLToPath(import.meta.url))];
  for (const start of starts) {
    for (let dir = resolve(start); ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', 'nsfwjs');
      if (existsSync(join(candidate, 'dist', 'models'))) return candidate;
      if (dirname(dir) === dir) break;
    }
  }
  throw new UsageError(
    'nsfwjs is not installed (looked for node_modules/nsfwjs above the current folder and above texad): ' +
      'run `npm ci` in a texad checkout (it is a devDependency) or `npm i nsfwjs`, or pass --from DIR',
  );
}

async function convertTfjsModel(model: string, args: ParsedArgs): Promise<number> {
  checkFlags(args, ['out', 'arch', 'weights-only']);
  const out = stringFlag(args, 'out');
  const { model: json, weights } = await readTfjsModelFile(model);
  const arch = args.flags.has('arch') ? stringFlag(args, 'arch') : undefined;
  writeConverted(out, convertTfjs(json, weights, model, { arch, weightsOnly: boolFlag(args, 'weights-only') }));
  return 0;
}

async function importNsfwjs(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  checkFlags(args, ['out', 'model', 'from']);
  if (args.positional[0] !== 'nsfwjs' || args.positional.length > 1) {
    throw new UsageError(`weights import reads from 'nsfwjs' only, got '${args.positional.join(' ')}'`);
  }
  const which = stringFlag(args, 'model', 'mobilenet_v2');
  const spec = NSFWJS_MODELS[which];
  if (!spec) {
    throw new UsageError(
      `--model ${which}: texad imports ${Object.keys(NSFWJS_MODELS).join(' or ')} from nsfwjs (its other models are ` +
        'graph models of architectures texad does not build)',
    );
  }
  const dir = stringFlag(args, 'out');
  const pkg = findNsfwjs(args.flags.has('from') ? stringFlag(args, 'from') : undefined);
  const version = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
  const model = join(pkg, 'dist', 'models', spec.folder, 'model.min.js');
  const { model: json, weights } = await readTfjsModelFile(model);
  const converted = convertTfjs(json, weights, model, { arch: spec.arch });
  converted.metadata['texad.origin'] = `${spec.short}, from nsfwjs ${version}`;
  converted.metadata['texad.origin.detail'] = `nsfwjs ${version} ${spec.folder}: ${spec.origin}`;
  converted.metadata['texad.input'] = 'pixels in [0, 1] (as nsfwjs feeds them); Keras ImageNet weights used [-1, 1]';
  writeConverted(join(dir, `${spec.arch}.safetensors`), converted);
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = { convert, fetch: fetchWeights, import: importNsfwjs };

export const command: Command = {
  summary: 'convert PyTorch checkpoints and TF.js models to safetensors, download torchvision\'s ImageNet weights, import nsfwjs\'s (no Python)',
  help: `usage: texad weights convert FILE.pth --arch NAME [--out FILE.safetensors] [--prefix P]
       texad weights convert MODEL.json --out FILE.safetensors [--arch NAME] [--weights-only]
       texad weights fetch NAME [--dir DIR] [--url URL]
       texad weights import nsfwjs [--model mobilenet_v2|inception_v3] --out DIR [--from NSFWJS_DIR]

convert  Reads a torch.save checkpoint (a state dict, or a Lightning checkpoint's state_dict; .gz accepted) and
         writes the safetensors file texad loads (float32, PyTorch's tensor names, the architecture recorded), the
         same tensors tools/export-weights.py writes. NAME: ${Object.keys(TORCHVISION_FILES).join(', ')},
         pdn_small, pdn_medium (EfficientAD teachers; nelson1425's and anomalib's names become conv1..convN).
         The file is read by a restricted unpickler: only tensor storages, OrderedDict and torch's tensor rebuild
         functions are accepted; a file naming any other Python global (os.system, a model class...) is refused
         and nothing runs. A truncated file, a non-checkpoint or one of another architecture is refused with the
         reason, and nothing is written. --out defaults to NAME.safetensors; --prefix keeps only tensors whose
         names start with it (stripped), e.g. model.teacher.
fetch    Downloads torchvision's IMAGENET1K_V1 file for NAME (${Object.keys(TORCHVISION_FILES).join(', ')}),
         checks the sha256 prefix in its file name, converts it to DIR/NAME.safetensors and prints where it is.
         DIR: --dir, else $${WEIGHTS_ENV}, else ~/.cache/texad. $TEXAD_WEIGHTS_URL replaces the download host
         (${DEFAULT_BASE}); --url fetches another file (a mirror, an EfficientAD teacher) whose name ends in
         -<sha256 prefix>.pth as torchvision's do. Nothing partial is left behind: downloads and outputs are renamed into place only
         once checked.

convert  (TF.js) reads a model.json (or a UMD model.min.js as nsfwjs ships) and its weight shards (binary, or
         base64 .min.js), decodes float32 / float16 / uint8- and uint16-quantised weights as TF.js does, and writes
         them as float32 safetensors under their Keras names, with texad.arch metadata. Layers models must be one
         of texad's Keras architectures (${TFJS_ARCHS.join(', ')}); unsupported layer types are listed.
         --arch NAME: the architecture the weights must fit (default: detected from the weights' names and
         shapes); --weights-only: every weight without an architecture check (the only way for graph models).
import   writes DIR/<model>.safetensors from the nsfwjs npm package (a texad devDependency; never needed at
         run time), with its origin in the texad.origin metadata (named in run reports and results.json) and
         the full note in texad.origin.detail. Use it with TEXAD_WEIGHTS=DIR or
         --weights DIR/<model>.safetensors. See README "Backbones and weights" for what is known about these
         weights and their licence. --model: mobilenet_v2 (default) or inception_v3; --from DIR: the nsfwjs
         package folder (default: node_modules/nsfwjs above the current folder or texad).

exit codes: 0 written, 1 refused or failed (the message says why), 2 bad usage.`,
  async run(argv) {
    const [sub, ...rest] = argv;
    const run = sub ? SUBCOMMANDS[sub] : undefined;
    if (!run) throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'missing subcommand (convert, fetch or import)');
    return run(rest);
  },
};
