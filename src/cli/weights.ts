import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from './main.ts';
import { boolFlag, parseArgs, stringFlag, UsageError, type ParsedArgs } from './args.ts';
import { TFJS_ARCHS, convertTfjs, type ConvertedModel } from '../backbones/convert.ts';
import { encodeSafetensors, type TensorToWrite } from '../io/safetensors.ts';
import { readTfjsModelFile } from '../io/tfjs.ts';

/** The nsfwjs models `weights import nsfwjs` knows, with what is known of their origin (README "Backbones"). */
const NSFWJS_MODELS: Record<string, { folder: string; arch: string; origin: string }> = {
  mobilenet_v2: {
    folder: 'mobilenet_v2',
    arch: 'mobilenet_v2',
    origin:
      'ImageNet-initialised Keras MobileNetV2 (width 1.0) fine-tuned by nsfwjs (MIT) for 5-class image ' +
      'classification with the layers up to block_10 frozen, i.e. ImageNet weights there; stored by nsfwjs as ' +
      '8-bit per-tensor quantised TF.js weights, dequantised here as TF.js does. nsfwjs feeds pixels / 255.',
  },
  inception_v3: {
    folder: 'inception_v3',
    arch: 'inception_v3',
    origin:
      'ImageNet-initialised Keras InceptionV3 fine-tuned by nsfwjs (MIT) for 5-class image classification with ' +
      'the layers up to mixed5 frozen, i.e. ImageNet weights there; stored by nsfwjs as 8-bit per-tensor ' +
      'quantised TF.js weights, dequantised here as TF.js does. nsfwjs feeds pixels / 255.',
  },
};

function checkFlags(args: ParsedArgs, known: string[]): void {
  for (const flag of args.flags.keys()) if (!known.includes(flag)) throw new UsageError(`unknown option --${flag}`);
}

function write(out: string, converted: ConvertedModel): void {
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

async function convert(args: ParsedArgs): Promise<number> {
  checkFlags(args, ['out', 'arch', 'weights-only']);
  const [model, ...extra] = args.positional.slice(1);
  if (!model || extra.length > 0) throw new UsageError('weights convert takes one model.json');
  const out = stringFlag(args, 'out');
  const { model: json, weights } = await readTfjsModelFile(model);
  const arch = args.flags.has('arch') ? stringFlag(args, 'arch') : undefined;
  write(out, convertTfjs(json, weights, model, { arch, weightsOnly: boolFlag(args, 'weights-only') }));
  return 0;
}

async function importNsfwjs(args: ParsedArgs): Promise<number> {
  checkFlags(args, ['out', 'model', 'from']);
  if (args.positional[1] !== 'nsfwjs' || args.positional.length > 2) {
    throw new UsageError(`weights import reads from 'nsfwjs' only, got '${args.positional.slice(1).join(' ')}'`);
  }
  const which = stringFlag(args, 'model', 'mobilenet_v2');
  const spec = NSFWJS_MODELS[which];
  if (!spec) {
    throw new UsageError(
      `--model ${which}: texad imports ${Object.keys(NSFWJS_MODELS).join(', ')} from nsfwjs (inception_v3 needs an ` +
        'architecture texad does not build yet)',
    );
  }
  const dir = stringFlag(args, 'out');
  const pkg = findNsfwjs(args.flags.has('from') ? stringFlag(args, 'from') : undefined);
  const version = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { version?: string }).version ?? '?';
  const model = join(pkg, 'dist', 'models', spec.folder, 'model.min.js');
  const { model: json, weights } = await readTfjsModelFile(model);
  const converted = convertTfjs(json, weights, model, { arch: spec.arch });
  converted.metadata['texad.origin'] = `nsfwjs ${version} ${spec.folder}: ${spec.origin}`;
  converted.metadata['texad.input'] = 'pixels in [0, 1] (as nsfwjs feeds them); Keras ImageNet weights used [-1, 1]';
  write(join(dir, `${spec.arch}.safetensors`), converted);
  return 0;
}

export const command: Command = {
  summary: 'convert TF.js models to safetensors; import ImageNet-initialised weights from an installed nsfwjs',
  help: `usage: texad weights convert MODEL.json --out FILE.safetensors [--arch NAME] [--weights-only]
       texad weights import nsfwjs [--model mobilenet_v2|inception_v3] --out DIR [--from NSFWJS_DIR]

convert  reads a TF.js model.json (or a UMD model.min.js as nsfwjs ships) and its weight shards (binary, or
         base64 .min.js), decodes float32 / float16 / uint8- and uint16-quantised weights as TF.js does, and writes
         them as float32 safetensors under their Keras names, with texad.arch metadata. Layers models must be one
         of texad's Keras architectures (${TFJS_ARCHS.join(', ')}); unsupported layer types are listed.
  --arch NAME      the architecture the weights must fit (default: detected from the weights' names and shapes)
  --weights-only   write every weight without an architecture check (the only way for graph models)
import   writes DIR/<model>.safetensors from the nsfwjs npm package (a texad devDependency; never needed at
         run time), with its origin in the texad.origin metadata. Use it with
         TEXAD_WEIGHTS=DIR or --weights DIR/<model>.safetensors. See README "Backbones and weights" for
         what is known about these weights and their licence.
  --model NAME     mobilenet_v2 (default) or inception_v3
  --from DIR       the nsfwjs package folder (default: node_modules/nsfwjs above the current folder or texad)`,
  async run(argv) {
    const args = parseArgs(argv);
    const sub = args.positional[0];
    if (sub === 'convert') return convert(args);
    if (sub === 'import') return importNsfwjs(args);
    throw new UsageError(sub ? `unknown subcommand '${sub}'; use convert or import` : 'missing subcommand: convert or import');
  },
};
