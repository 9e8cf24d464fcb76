// What a method needs besides training images, declared before it is built, so the CLI can find every file at once
// and report all that are missing (with how to get them) before any work starts.
import { TORCHVISION_FILES } from '../backbones/convert.ts';
import type { WeightsSource } from '../backbones/weights.ts';
import type { TrainingImages } from './detector.ts';

/** Pretrained network weights, found as `<dir>/<name>.safetensors`; seeded random weights stand in when none. */
export interface WeightsResource {
  kind: 'weights';
  /** File stem, usually the architecture (`wide_resnet50_2`, `pdn_small`, or a method-specific teacher file). */
  name: string;
  /** What it is for, in words (messages, report). */
  purpose: string;
  /** How to obtain the file, for the missing-resource message (default: tools/export-weights.py <name>). */
  howTo?: string;
}

/** A folder of auxiliary images (DRAEM's anomaly-source textures, EfficientAD's ImageNet penalty images). */
export interface ImagesResource {
  kind: 'images';
  /** Folder name under the weights directory, e.g. `dtd`. */
  name: string;
  purpose: string;
  /** How to obtain the images (a download page or a tool), for the missing-resource message. */
  howTo: string;
  /** The method works without it (documenting what it does instead); otherwise a missing folder is an error. */
  optional?: boolean;
}

export type ResourceSpec = WeightsResource | ImagesResource;

/** A method's needs under a preset and configuration, by key (e.g. `backbone`, `teacher`, `textures`). */
export type ResourceSpecs = Record<string, ResourceSpec>;

/**
 * Resources as handed to a method: weights as a WeightsSource ('random' when none were found: the labelled fallback),
 * image folders as pixels (the method never reads files), absent when optional and not found.
 */
export type ResolvedResources = Record<string, WeightsSource | TrainingImages | undefined>;

/** The default how-to line of a weights resource. */
export function weightsHowTo(spec: WeightsResource): string {
  if (spec.howTo) return spec.howTo;
  const fetch = Object.hasOwn(TORCHVISION_FILES, spec.name)
    ? `texad weights fetch ${spec.name} --dir <dir> (downloads and converts torchvision's file, no Python), or `
    : '';
  return `${fetch}python3 tools/export-weights.py ${spec.name} --out <dir>/${spec.name}.safetensors (README "Backbones and weights")`;
}

/** Weights resource `key`, or 'random' when none was resolved (API users may pass nothing). */
export function weightsOf(resources: ResolvedResources, key: string): WeightsSource {
  const r = resources[key];
  if (r === undefined) return 'random';
  if (typeof r === 'object' && 'batches' in r) throw new Error(`texad: resource '${key}' is an image folder, not weights`);
  return r;
}

/** Image resource `key`; throws naming it when it is missing (pass `optional` to get undefined instead). */
export function imagesOf(resources: ResolvedResources, key: string, spec: ImagesResource): TrainingImages | undefined {
  const r = resources[key];
  if (r !== undefined && !(typeof r === 'object' && 'batches' in r)) {
    throw new Error(`texad: resource '${key}' (${spec.purpose}) must be images, got weights`);
  }
  if (r === undefined && !spec.optional) {
    throw new Error(`texad: resource '${key}' (${spec.purpose}) is missing: ${spec.howTo}`);
  }
  return r;
}
