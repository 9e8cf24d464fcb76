// Foreign checkpoints -> the tensors and metadata texad loads, checked against the architecture before anything
// is returned. PyTorch (.pth): the same tensors, names and metadata tools/export-weights.py writes (float32,
// BatchNorm step counters dropped, EfficientAD teachers renamed to conv1..convN, `texad.arch` recorded). TF.js
// layers models: which texad architecture a Keras model is (by its weights' names and shapes), refusing layer
// types texad does not implement, tensors under their Keras names. The CLI writes the files (src/cli/weights.ts).
import { bytesSource, encodeSafetensors, SafetensorsReader, type TensorToWrite } from '../io/safetensors.ts';
import { readTorchCheckpoint, stateDict, type TorchTensor } from '../io/torch.ts';
import { BACKBONES, type BackboneName } from './index.ts';
import { PDNS, pdnManifest, type PdnName } from './pdn.ts';
import { RESNETS, resnetManifest, type ResNetName } from './resnet.ts';
import { checkLayerTypes, kerasLayers, TfjsError, type TfjsModelJson, type TfjsWeight } from '../io/tfjs.ts';
import { inceptionManifest } from './inception_v3.ts';
import { MOBILENETS, mobilenetManifest } from './mobilenet_v2.ts';
import { WeightsError, checkpointWeights, memoryWeights, type Manifest } from './weights.ts';

/** torchvision's IMAGENET1K_V1 files (what `pretrained=True` gives); the hex after '-' is the start of their sha256. */
export const TORCHVISION_FILES: Readonly<Record<string, string>> = {
  resnet18: 'resnet18-f37072fd.pth',
  resnet50: 'resnet50-0676ba61.pth',
  resnet152: 'resnet152-394f9c45.pth',
  wide_resnet50_2: 'wide_resnet50_2-95faca4d.pth',
  wide_resnet101_2: 'wide_resnet101_2-32ee1156.pth',
};

/** A module name of an EfficientAD teacher: '3' (nelson1425's nn.Sequential index) or 'conv2' (anomalib). */
function convPosition(module: string): number | undefined {
  const m = /^(?:conv)?(\d+)$/.exec(module);
  return m ? Number(m[1]) : undefined;
}

/** Renames a PDN teacher's tensors to conv1..convN in module order (nn.Sequential numbers ReLUs and pools too). */
function pdnNames(arch: PdnName, state: Map<string, TorchTensor>, file: string): Map<string, TorchTensor> {
  const modules = [...new Set([...state.keys()].map((k) => k.slice(0, k.lastIndexOf('.'))))];
  if (modules.some((m) => convPosition(m) === undefined)) {
    throw new WeightsError(`${file}: not an EfficientAD PDN checkpoint; tensor names: ${[...state.keys()].slice(0, 8).join(', ')}`);
  }
  modules.sort((a, b) => convPosition(a)! - convPosition(b)!);
  const want = pdnManifest(arch, 1).params.length / 2;
  if (modules.length !== want) {
    const other = PDNS.find((a) => pdnManifest(a, 1).params.length / 2 === modules.length);
    throw new WeightsError(`${file} has ${modules.length} convolutions${other ? ` (a ${other} checkpoint)` : ''}, ` +
      `but ${arch} has ${want}`);
  }
  const out = new Map<string, TorchTensor>();
  modules.forEach((m, i) => {
    for (const kind of ['weight', 'bias']) {
      const t = state.get(`${m}.${kind}`);
      if (!t) throw new WeightsError(`${file}: ${m}.${kind} is missing`);
      out.set(`conv${i + 1}.${kind}`, t);
    }
  });
  return out;
}

export interface ConvertOptions {
  /** Keep only tensors whose names start with this, stripped (e.g. 'model.teacher.'). */
  prefix?: string;
  /** Recorded as `texad.source` (export-weights.py records the checkpoint's file name). */
  source?: string;
}

/**
 * Converts the bytes of a torch.save state dict (or a Lightning checkpoint's `state_dict`) of `arch` into safetensors
 * bytes. Throws (TorchCheckpointError, PickleError, WeightsError) naming `file` and the reason when the file is
 * truncated, not a checkpoint, carries pickle globals other than tensor storages, or does not fit `arch`.
 */
export async function convertTorchCheckpoint(bytes: Uint8Array, arch: string, file: string,
  opts: ConvertOptions = {}): Promise<Uint8Array> {
  if (!(BACKBONES as readonly string[]).includes(arch)) {
    throw new WeightsError(`unknown architecture '${arch}'; texad knows ${BACKBONES.join(', ')}`);
  }
  if (!Object.hasOwn(RESNETS, arch) && !(PDNS as readonly string[]).includes(arch)) {
    throw new WeightsError(`'${arch}' is a Keras architecture: convert its TF.js model.json instead of a PyTorch checkpoint ` +
      `(PyTorch checkpoints convert to ${[...Object.keys(RESNETS), ...PDNS].join(', ')})`);
  }
  const ckpt = readTorchCheckpoint(bytes, file);
  let state = stateDict(ckpt);
  if (opts.prefix) {
    state = new Map([...state].filter(([k]) => k.startsWith(opts.prefix!)).map(([k, t]) => [k.slice(opts.prefix!.length), t]));
    if (state.size === 0) throw new WeightsError(`${file}: no tensor name starts with prefix '${opts.prefix}'`);
  }
  const isPdn = (PDNS as readonly string[]).includes(arch);
  if (isPdn) state = pdnNames(arch as PdnName, state, file);
  const tensors: [string, TensorToWrite][] = [];
  for (const [k, t] of state) {
    if (!k.endsWith('num_batches_tracked')) tensors.push([k, { shape: t.shape, data: ckpt.values(t) }]);
  }
  const metadata = { format: 'pt', 'texad.arch': arch, 'texad.source': opts.source ?? file.replace(/^.*[\\/]/, '') };
  const out = encodeSafetensors(tensors, metadata);
  // The same check texad applies when loading, so a file convert writes is one texad accepts.
  const name = arch as BackboneName;
  const manifest = isPdn
    ? pdnManifest(name as PdnName, state.get(`conv${pdnManifest(name as PdnName, 1).params.length / 2}.weight`)!.shape[0]!)
    : resnetManifest(name as ResNetName);
  const store = checkpointWeights(await SafetensorsReader.open(bytesSource(out, file)));
  store.check(manifest, new Set(manifest.params.map((p) => p.key)));
  return out;
}

// ---- TF.js layers models ----------------------------------------------------------------------------------

/** Keras layer types texad's Keras architectures are built from. */
const IMPLEMENTED = [
  'InputLayer', 'ZeroPadding2D', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization', 'ReLU', 'Activation', 'Add',
  'MaxPooling2D', 'AveragePooling2D', 'Concatenate',
];
/** Classifier-head layer types: texad's backbones stop before them, so their weights are carried but not run. */
const HEAD = ['GlobalAveragePooling2D', 'Flatten', 'Dense', 'Dropout', 'Reshape', 'Softmax'];

const MANIFESTS: Record<string, () => Manifest> = {
  ...Object.fromEntries(Object.keys(MOBILENETS).map((m) => [m, () => mobilenetManifest(m as keyof typeof MOBILENETS)])),
  inception_v3: inceptionManifest,
};

/** The architectures a TF.js layers model can be imported as. */
export const TFJS_ARCHS: readonly string[] = Object.keys(MANIFESTS);

export interface ConvertedModel {
  /** The texad architecture the weights fit, or undefined for a weights-only conversion. */
  arch: string | undefined;
  tensors: Map<string, TfjsWeight>;
  metadata: Record<string, string>;
}

function fits(arch: string, tensors: Map<string, TfjsWeight>): string | null {
  const manifest = MANIFESTS[arch]!();
  try {
    memoryWeights('model', tensors, undefined).check(manifest, new Set(manifest.params.map((p) => p.key)));
    return null;
  } catch (err) {
    if (err instanceof WeightsError) return err.message;
    throw err;
  }
}

/**
 * Checks and labels a TF.js model's weights. Layers models must use only layer types texad implements (classifier
 * heads excepted) with Keras's settings (BatchNorm eps 1e-3, ReLU6 or relu after BatchNorm, linear convolutions), and their weights must fit
 * `arch` (or, without it, one of TFJS_ARCHS). `weightsOnly` skips all that and records no architecture (the only
 * way for graph models, whose TensorFlow op graphs texad does not run).
 */
export function convertTfjs(model: TfjsModelJson, tensors: Map<string, TfjsWeight>, source: string,
  { arch, weightsOnly = false }: { arch?: string; weightsOnly?: boolean } = {}): ConvertedModel {
  const metadata: Record<string, string> = { 'texad.origin': `TF.js ${model.format ?? 'layers-model'} ${source}` };
  if (weightsOnly) return { arch: undefined, tensors, metadata };
  if (model.format === 'graph-model') {
    throw new TfjsError(
      `${source} is a TF.js graph model: texad runs Keras layers models only; pass --weights-only to convert its ` +
        `weights under their graph names without an architecture`,
    );
  }
  const layers = kerasLayers(model);
  checkLayerTypes(layers, new Set([...IMPLEMENTED, ...HEAD]), source);
  for (const l of layers) {
    const eps = l.config['epsilon'];
    if (l.className === 'BatchNormalization' && eps !== 0.001) {
      throw new TfjsError(`${source}: BatchNormalization '${l.name}' has epsilon ${String(eps)}; texad's Keras networks use 0.001`);
    }
    const max = l.config['max_value'];
    if (l.className === 'ReLU' && max !== 6) {
      throw new TfjsError(`${source}: ReLU '${l.name}' has max_value ${String(max)}; texad's MobileNetV2 uses ReLU6`);
    }
    const activation = l.config['activation'];
    if ((l.className === 'Activation' && activation !== 'relu') || (l.className === 'Conv2D' && activation !== 'linear')) {
      throw new TfjsError(`${source}: ${l.className} '${l.name}' has activation '${String(activation)}'; texad's Keras networks use relu after BatchNorm`);
    }
  }
  if (arch !== undefined) {
    if (!TFJS_ARCHS.includes(arch)) {
      throw new TfjsError(`texad imports TF.js models as ${TFJS_ARCHS.join(' or ')}, not '${arch}'`);
    }
    const why = fits(arch, tensors);
    if (why) throw new TfjsError(why);
    return { arch, tensors, metadata: { ...metadata, 'texad.arch': arch } };
  }
  const reasons: string[] = [];
  for (const candidate of TFJS_ARCHS) {
    const why = fits(candidate, tensors);
    if (!why) return { arch: candidate, tensors, metadata: { ...metadata, 'texad.arch': candidate } };
    reasons.push(why);
  }
  throw new TfjsError(
    `${source} fits none of texad's architectures (${reasons.join(' / ')}); pass --weights-only to convert its ` +
      `weights without one`,
  );
}
