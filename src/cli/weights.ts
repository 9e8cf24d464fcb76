// `texad weights convert|fetch`: ImageNet and EfficientAD weights without Python. convert turns a PyTorch .pth into
// the safetensors file texad loads (src/backbones/convert.ts); fetch downloads torchvision's official file first.
// Every file is written under a temporary name and renamed only once complete and checked, so an interrupted run
// or a bad download never leaves a file texad would load.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync } from 'node:zlib';
import { TORCHVISION_FILES, convertTorchCheckpoint } from '../backbones/convert.ts';
import { WEIGHTS_ENV } from '../backbones/weights.ts';
import { UsageError, parseArgs, stringFlag } from './args.ts';
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
  if (!file || extra.length > 0) throw new UsageError('convert takes one FILE.pth');
  if (!/\.(pth|pt|bin|ckpt)(\.gz)?$/.test(file)) {
    throw new UsageError(`${file}: convert reads PyTorch checkpoints (.pth, .pt, .ckpt, .bin, optionally .gz)`);
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
    await convertFile(pth, arch, out, undefined, basename(file));
  } finally {
    await rm(pth, { force: true });
  }
  console.log(`use it: texad run ... --weights-dir ${dir} (or export ${WEIGHTS_ENV}=${dir})`);
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[]) => Promise<number>> = { convert, fetch: fetchWeights };

export const command: Command = {
  summary: 'convert PyTorch checkpoints to safetensors, or download torchvision\'s ImageNet weights (no Python)',
  help: `usage: texad weights convert FILE.pth --arch NAME [--out FILE.safetensors] [--prefix P]
       texad weights fetch NAME [--dir DIR] [--url URL]

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

exit codes: 0 written, 1 refused or failed (the message says why), 2 bad usage.`,
  async run(argv) {
    const [sub, ...rest] = argv;
    const run = sub ? SUBCOMMANDS[sub] : undefined;
    if (!run) throw new UsageError(sub ? `unknown subcommand '${sub}'` : 'missing subcommand (convert or fetch)');
    return run(rest);
  },
};
