// PyTorch checkpoint (.pth) -> the safetensors file texad loads, without Python: the same tensors, names and
// metadata tools/export-weights.py writes (float32, BatchNorm step counters dropped, EfficientAD teachers renamed to
// conv1..convN, `texad.arch` recorded), checked against the architecture before anything is returned.
import { bytesSource, encodeSafetensors, SafetensorsReader, type TensorToWrite } from '../io/safetensors.ts';
import { readTorchCheckpoint, stateDict, type TorchTensor } from '../io/torch.ts';
import { BACKBONES, type BackboneName } from './index.ts';
import { PDNS, pdnManifest, type PdnName } from './pdn.ts';
import { resnetManifest, type ResNetName } from './resnet.ts';
import { WeightsError, checkpointWeights } from './weights.ts';

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
