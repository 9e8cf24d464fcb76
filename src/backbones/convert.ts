// TF.js models -> texad checkpoints: finds which texad architecture a Keras layers model is (by its weights'
// names and shapes), refuses layer types texad does not implement, and returns the tensors under their Keras
// names with the metadata a safetensors file records. The caller writes the file (src/cli/weights.ts).
import { checkLayerTypes, kerasLayers, TfjsError, type TfjsModelJson, type TfjsWeight } from '../io/tfjs.ts';
import { inceptionManifest } from './inception_v3.ts';
import { MOBILENETS, mobilenetManifest } from './mobilenet_v2.ts';
import type { Manifest } from './weights.ts';
import { memoryWeights, WeightsError } from './weights.ts';

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
