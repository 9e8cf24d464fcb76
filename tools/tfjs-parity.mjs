#!/usr/bin/env node
// Parity fixtures for MobileNetV2 and InceptionV3 (test/keras-backbones.test.ts): TF.js itself (tfjs-layers on the tfjs-backend-cpu)
// runs the forward passes texad must match. Dev tool, never imported by texad:
//   node tools/tfjs-parity.mjs
// 1. Random weights: a width-1.4 Keras MobileNetV2 built with tfjs-layers up to block_3, random weights (BatchNorm
//    statistics included) written as a TF.js model — kernels uint16-quantised, BatchNorm float16, the rest float32,
//    over two binary shards — into test/fixtures/tfjs/mobilenet_v2_1.4_random/, and TF.js's outputs of a 16x16
//    image computed from that very file (tfjs-core decodes it), so texad's import is checked end to end.
// 2. nsfwjs's 8-bit MobileNetV2 (the installed devDependency, loaded through its own UMD bundles, not texad's
//    parser), truncated to out_relu, on a 32x32 image.
// 3. nsfwjs's 8-bit InceptionV3 to mixed5 (its frozen ImageNet part), 75x75.
// 4. InceptionV3 to mixed10 with random weights and BatchNorm statistics in nsfwjs's Keras topology (Keras's own
//    graph, not one rebuilt here), 107x107 (the smallest input with 2x2 at mixed9/10, so their 'same' 1x3/3x1
//    windows see padding). 22 M values would not be a small fixture, so the weights are not stored: each tensor is
//    drawn from texad's CPU generator (Rng.derive(seed, name), src/data/random.ts, imported from dist/) uniformly
//    in a range recorded per tensor in the fixture, and the test draws the same values.
// All write NHWC outputs of a few taps to test/fixtures/tfjs/keras_parity.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { Rng } from '../dist/src/data/random.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
await tf.setBackend('cpu');

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A smooth deterministic 8-bit RGB image, NHWC, row-major [h][w][c]: its bytes (stored in the fixture, compactly)
 * and the float32 values q / 255 both TF.js and the test feed.
 */
function image(size) {
  const bytes = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) for (let c = 0; c < 3; c++) {
    bytes[(y * size + x) * 3 + c] = Math.round(255 * (0.5 + 0.45 * Math.sin(0.7 * x + 1.3 * y + 2 * c) * Math.cos(0.31 * x * (c + 1) - 0.2 * y)));
  }
  return { bytes: Array.from(bytes), pixels: Float32Array.from(bytes, (q) => q / 255) };
}

const makeDivisible = (v, d = 8) => {
  let n = Math.max(d, Math.floor((v + d / 2) / d) * d);
  if (n < 0.9 * v) n += d;
  return n;
};

/** Keras MobileNetV2 (keras-applications 1.0.8 naming) with tfjs-layers, blocks 0..lastBlock, for an even input. */
function buildMobileNet(alpha, size, lastBlock) {
  const input = tfl.input({ shape: [size, size, 3], name: 'input_1' });
  const bn = (name) => tfl.layers.batchNormalization({ epsilon: 1e-3, momentum: 0.999, name });
  const relu6 = (name) => tfl.layers.reLU({ maxValue: 6, name });
  let x = tfl.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: 'Conv1_pad' }).apply(input);
  let channels = makeDivisible(32 * alpha);
  x = tfl.layers.conv2d({ filters: channels, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, name: 'Conv1' }).apply(x);
  x = relu6('Conv1_relu').apply(bn('bn_Conv1').apply(x));
  const stages = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1], [6, 160, 3, 2], [6, 320, 1, 1]];
  let id = 0;
  for (const [t, c, n, s] of stages) {
    for (let r = 0; r < n; r++, id++) {
      if (id > lastBlock) return tfl.model({ inputs: input, outputs: x });
      const p = id === 0 ? 'expanded_conv_' : `block_${id}_`;
      const out = makeDivisible(c * alpha);
      const stride = r === 0 ? s : 1;
      const blockInput = x;
      if (id > 0) {
        x = tfl.layers.conv2d({ filters: channels * t, kernelSize: 1, padding: 'same', useBias: false, name: `${p}expand` }).apply(x);
        x = relu6(`${p}expand_relu`).apply(bn(`${p}expand_BN`).apply(x));
      }
      if (stride === 2) x = tfl.layers.zeroPadding2d({ padding: [[0, 1], [0, 1]], name: `${p}pad` }).apply(x);
      x = tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false, name: `${p}depthwise` }).apply(x);
      x = relu6(`${p}depthwise_relu`).apply(bn(`${p}depthwise_BN`).apply(x));
      x = tfl.layers.conv2d({ filters: out, kernelSize: 1, padding: 'same', useBias: false, name: `${p}project` }).apply(x);
      x = bn(`${p}project_BN`).apply(x);
      if (channels === out && stride === 1) x = tfl.layers.add({ name: `${p}add` }).apply([blockInput, x]);
      channels = out;
    }
  }
  return tfl.model({ inputs: input, outputs: x });
}

/** Random weights for `model`, written as a TF.js model in `dir` with mixed storage; returns the model.json. */
function writeRandomModel(model, dir) {
  const r = rng(20261202);
  const specs = [];
  const chunks = [];
  for (const w of model.weights) {
    const name = w.originalName;
    const size = w.shape.reduce((a, b) => a * b, 1);
    const kind = name.split('/').pop();
    const values = Float32Array.from({ length: size }, () => {
      if (kind === 'gamma') return 0.5 + r();
      if (kind === 'moving_variance') return 0.3 + 1.5 * r();
      if (kind === 'moving_mean' || kind === 'beta') return (r() - 0.5) * 0.4;
      return (r() - 0.5) * 2 * Math.sqrt(6 / (w.shape[0] * w.shape[1] * (w.shape[2] + w.shape[3])));
    });
    if (kind === 'kernel' || kind === 'depthwise_kernel') {
      let min = Infinity;
      let max = -Infinity;
      for (const v of values) [min, max] = [Math.min(min, v), Math.max(max, v)];
      const scale = (max - min) / 65535;
      chunks.push(new Uint8Array(Uint16Array.from(values, (v) => Math.round((v - min) / scale)).buffer));
      specs.push({ name, shape: w.shape, dtype: 'float32', quantization: { dtype: 'uint16', min, scale } });
    } else if (kind === 'gamma' || kind === 'beta') {
      chunks.push(new Uint8Array(Uint16Array.from(values, f16).buffer));
      specs.push({ name, shape: w.shape, dtype: 'float32', quantization: { dtype: 'float16' } });
    } else {
      chunks.push(new Uint8Array(values.buffer));
      specs.push({ name, shape: w.shape, dtype: 'float32' });
    }
  }
  const total = chunks.reduce((a, c) => a + c.byteLength, 0);
  const all = new Uint8Array(total);
  let pos = 0;
  for (const c of chunks) {
    all.set(c, pos);
    pos += c.byteLength;
  }
  // Two shards split mid-tensor, as the converter's 4 MB shards are.
  const cut = Math.floor(total / 2) + 1;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'group1-shard1of2.bin'), all.subarray(0, cut));
  writeFileSync(join(dir, 'group1-shard2of2.bin'), all.subarray(cut));
  const json = {
    format: 'layers-model', generatedBy: 'tools/tfjs-parity.mjs', convertedBy: null,
    modelTopology: model.toJSON(null, false),
    weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: specs }],
  };
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  return { json, data: all.buffer.slice(0) };
}

/** float32 -> float16 bits (round to nearest even) for normal values. */
function f16(v) {
  const f = new Float32Array([v]);
  const b = new Uint32Array(f.buffer)[0];
  const sign = (b >>> 16) & 0x8000;
  const e = ((b >>> 23) & 0xff) - 112;
  const m = b & 0x7fffff;
  if (e <= 0) return sign;
  let h = (e << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}

/**
 * Runs `model` (loaded by TF.js from topology + manifest + bytes) and returns the named taps, NHWC, to 6 significant
 * digits (5e-6 relative: far inside the tests' 1e-3, and a third smaller than full float32 precision).
 */
async function runTaps(topology, specs, data, size, taps, pixels) {
  const model = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: topology, weightSpecs: specs, weightData: data }), { strict: false });
  const sub = tfl.model({ inputs: model.inputs, outputs: taps.map((t) => model.getLayer(t).output) });
  const outs = sub.predict(tf.tensor4d(pixels, [1, size, size, 3]));
  const list = Array.isArray(outs) ? outs : [outs];
  return Object.fromEntries(taps.map((t, i) => [t, { shape: list[i].shape, data: Array.from(list[i].dataSync(), (v) => Number(v.toPrecision(6))) }]));
}

/** nsfwjs's model `folder`: its model.json (from the UMD bundle) and its weight bytes. */
function nsfwjsModel(folder) {
  const base = `node_modules/nsfwjs/dist/models/${folder}/`;
  const json = require(join(root, base, 'model.min.js'));
  const shards = json.weightsManifest[0].paths.map((p) => Buffer.from(require(join(root, base, `${p}.min.js`)), 'base64'));
  return { path: `${base}model.min.js`, json, data: new Uint8Array(Buffer.concat(shards)).buffer };
}

/** A copy of `json`'s Keras topology cut after layer `last` (its only output), for a size x size input. */
function truncated(json, last, size) {
  const topo = JSON.parse(JSON.stringify(json.modelTopology));
  const cfg = topo.model_config.config;
  cfg.layers = cfg.layers.slice(0, cfg.layers.findIndex((l) => l.name === last) + 1);
  cfg.layers[0].config.batch_input_shape = [null, size, size, 3];
  cfg.output_layers = [[last, 0, 0]];
  return topo;
}

const nsfwjsVersion = JSON.parse(readFileSync(join(root, 'node_modules/nsfwjs/package.json'), 'utf8')).version;
const fixtures = { generator: 'tools/tfjs-parity.mjs', tfjs: tf.version_core, cases: [] };

// 1. Random weights, width 1.4.
{
  const size = 16;
  const model = buildMobileNet(1.4, size, 3);
  const dir = join(root, 'test/fixtures/tfjs/mobilenet_v2_1.4_random');
  const { json, data } = writeRandomModel(model, dir);
  const taps = ['Conv1_relu', 'block_1_depthwise_relu', 'block_2_add', 'block_3_expand_relu'];
  const { bytes, pixels } = image(size);
  const outputs = await runTaps(json.modelTopology, json.weightsManifest[0].weights, data, size, taps, pixels);
  fixtures.cases.push({ name: 'random width 1.4', arch: 'mobilenet_v2_1.4', model: 'test/fixtures/tfjs/mobilenet_v2_1.4_random/model.json', size, scaling: 'none', bytes, outputs });
}

// 2. nsfwjs's MobileNetV2 (8-bit), through nsfwjs's own bundles.
{
  const size = 32;
  const { path, json, data } = nsfwjsModel('mobilenet_v2');
  const taps = ['block_6_expand_relu', 'block_13_expand_relu', 'out_relu'];
  const { bytes, pixels } = image(size);
  const outputs = await runTaps(truncated(json, 'out_relu', size), json.weightsManifest[0].weights, data, size, taps, pixels);
  fixtures.cases.push({ name: `nsfwjs ${nsfwjsVersion} mobilenet_v2 (8-bit)`, arch: 'mobilenet_v2', model: path, size, scaling: 'none', bytes, outputs });
}

// 3. nsfwjs's InceptionV3 (8-bit) to mixed5 (its frozen ImageNet part), 75 x 75 (Keras's minimum input).
{
  const size = 75;
  const { path, json, data } = nsfwjsModel('inception_v3');
  const taps = ['mixed2', 'mixed5'];
  const { bytes, pixels } = image(size);
  const outputs = await runTaps(truncated(json, 'mixed5', size), json.weightsManifest[0].weights, data, size, taps, pixels);
  fixtures.cases.push({ name: `nsfwjs ${nsfwjsVersion} inception_v3 (8-bit)`, arch: 'inception_v3', model: path, size, scaling: 'none', bytes, outputs });
}

// 4. Random InceptionV3 to mixed10 in nsfwjs's topology; weights drawn from texad's Rng (see the header).
{
  const size = 107;
  const seed = 20261203;
  const topo = truncated(nsfwjsModel('inception_v3').json, 'mixed10', size);
  const shell = await tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: topo }));
  const ranges = {};
  const specs = [];
  const values = [];
  for (const w of shell.weights) {
    const name = w.originalName;
    const kind = name.split('/').pop();
    // Kernels: He-uniform, so activations neither vanish nor explode over the 20-odd convolutions to mixed10.
    const bound = kind === 'kernel' ? Math.sqrt(6 / (w.shape[0] * w.shape[1] * w.shape[2])) : 0;
    const range = { kernel: [-bound, bound], beta: [-0.1, 0.1], moving_mean: [-0.1, 0.1], moving_variance: [0.5, 1.5] }[kind];
    if (!range) throw new Error(`tfjs-parity: no random range for ${name}`);
    ranges[name] = range;
    const r = Rng.derive(seed, name);
    values.push(Float32Array.from({ length: w.shape.reduce((a, b) => a * b, 1) }, () => r.range(range[0], range[1])));
    specs.push({ name, shape: w.shape, dtype: 'float32' });
  }
  shell.dispose();
  const all = new Float32Array(values.reduce((a, v) => a + v.length, 0));
  values.reduce((pos, v) => (all.set(v, pos), pos + v.length), 0);
  const taps = ['mixed7', 'mixed10'];
  const { bytes, pixels } = image(size);
  const outputs = await runTaps(topo, specs, all.buffer, size, taps, pixels);
  fixtures.cases.push({ name: 'random inception_v3 to mixed10', arch: 'inception_v3', random: { seed, ranges }, size, scaling: 'none', bytes, outputs });
}

writeFileSync(join(root, 'test/fixtures/tfjs/keras_parity.json'), JSON.stringify(fixtures));
console.log('wrote test/fixtures/tfjs/keras_parity.json', fixtures.cases.map((c) => c.name));
