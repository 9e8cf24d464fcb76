import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { describe, expect, it } from 'vitest';
import { convertTfjs } from '../src/backbones/convert.ts';
import { checkLayerTypes, kerasLayers, parseTfjsModel, readTfjsModelFile, readTfjsWeights, type TfjsModelJson } from '../src/io/tfjs.ts';
import { SafetensorsReader, fileSource } from '../src/io/safetensors.ts';
import { main } from '../src/cli/main.ts';

const NSFWJS = 'node_modules/nsfwjs/dist/models';
const RANDOM = 'test/fixtures/tfjs/mobilenet_v2_1.4_random';

/** tfjs-core's own decoding of the same bytes, as the oracle. */
async function tfjsDecode(model: TfjsModelJson, shards: Uint8Array[]): Promise<Map<string, Float32Array>> {
  await tf.setBackend('cpu');
  const total = shards.reduce((a, s) => a + s.byteLength, 0);
  const all = new Uint8Array(total);
  let pos = 0;
  for (const s of shards) (all.set(s, pos), (pos += s.byteLength));
  const decoded = tf.io.decodeWeights(all.buffer, model.weightsManifest[0]!.weights as tf.io.WeightsManifestEntry[]);
  const out = new Map<string, Float32Array>();
  for (const [k, t] of Object.entries(decoded)) {
    out.set(k, t.dataSync() as Float32Array);
    t.dispose();
  }
  return out;
}

function expectSame(ours: Map<string, { data: Float32Array }>, theirs: Map<string, Float32Array>): void {
  expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
  for (const [k, v] of theirs) {
    const mine = ours.get(k)!.data;
    expect(mine.length, k).toBe(v.length);
    // Bit-exact: the same float32 rounding of q * scale + min, the same half-to-float conversion.
    expect(Buffer.from(mine.buffer, mine.byteOffset, mine.byteLength).equals(Buffer.from(v.buffer, v.byteOffset, v.byteLength)), k).toBe(true);
  }
}

describe('tfjs import: decoding matches tfjs-core bit for bit', () => {
  it('binary shards with uint16, float16 and float32 weights (a tensor split across shards)', async () => {
    const { model, weights } = await readTfjsModelFile(`${RANDOM}/model.json`);
    const kinds = new Set(model.weightsManifest[0]!.weights.map((w) => w.quantization?.dtype ?? w.dtype));
    expect(kinds).toEqual(new Set(['uint16', 'float16', 'float32']));
    const shards = model.weightsManifest[0]!.paths.map((p) => new Uint8Array(readFileSync(join(RANDOM, p))));
    expectSame(weights, await tfjsDecode(model, shards));
  });
  it("nsfwjs's 8-bit MobileNetV2 from its UMD/base64 .min.js bundles", async () => {
    const { model, weights } = await readTfjsModelFile(`${NSFWJS}/mobilenet_v2/model.min.js`);
    expect(weights.get('Conv1/kernel')!.shape).toEqual([3, 3, 3, 32]);
    expect(weights.get('block_1_depthwise/depthwise_kernel')!.shape).toEqual([3, 3, 96, 1]);
    // The shard's base64 decoded by Node itself, independently of texad's bundle parser.
    const text = readFileSync(`${NSFWJS}/mobilenet_v2/group1-shard1of1.min.js`, 'utf8');
    const b64 = /exports="([A-Za-z0-9+/=]+)"/.exec(text)![1]!;
    expectSame(weights, await tfjsDecode(model, [new Uint8Array(Buffer.from(b64, 'base64'))]));
  });
});

describe('tfjs import: bad input is refused by name', () => {
  function copyRandom(): string {
    const dir = mkdtempSync(join(tmpdir(), 'texad-tfjs-'));
    for (const f of ['model.json', 'group1-shard1of2.bin', 'group1-shard2of2.bin']) copyFileSync(join(RANDOM, f), join(dir, f));
    return dir;
  }
  it('a truncated shard names the weight that does not fit and both sizes', async () => {
    const dir = copyRandom();
    const shard = readFileSync(join(dir, 'group1-shard2of2.bin'));
    writeFileSync(join(dir, 'group1-shard2of2.bin'), shard.subarray(0, shard.length - 10));
    await expect(readTfjsModelFile(join(dir, 'model.json'))).rejects.toThrow(
      /weight 'block_3_project_BN\/moving_variance' \(float32, shape \[48\]\) needs 192 bytes but only 182 remain .* does not match the shards/,
    );
  });
  it('a manifest shape that disagrees with the shards names the shard sizes', async () => {
    const dir = copyRandom();
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as TfjsModelJson;
    json.weightsManifest[0]!.weights[0]!.shape = [3, 3, 3, 40];
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    await expect(readTfjsModelFile(join(dir, 'model.json'))).rejects.toThrow(/hold 102144 bytes but the manifest describes 101712/);
  });
  it('missing shards are all named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'texad-tfjs-'));
    copyFileSync(join(RANDOM, 'model.json'), join(dir, 'model.json'));
    await expect(readTfjsModelFile(join(dir, 'model.json'))).rejects.toThrow(/2 weight shard\(s\) missing next to it: group1-shard1of2.bin, group1-shard2of2.bin/);
  });
  it('unsupported layer types are listed with an example layer each', () => {
    const layer = (name: string, cls: string) => ({ name, class_name: cls, config: { name }, inbound_nodes: [] });
    const model = parseTfjsModel(JSON.stringify({
      format: 'layers-model', weightsManifest: [],
      modelTopology: { model_config: { class_name: 'Model', config: { layers: [
        layer('input_1', 'InputLayer'), layer('sep_1', 'SeparableConv2D'), layer('sep_2', 'SeparableConv2D'), layer('lstm', 'LSTM'),
      ] } } },
    }), 'toy');
    expect(() => convertTfjs(model, new Map(), 'toy')).toThrow(
      /toy: texad does not implement the layer type\(s\) SeparableConv2D \(e.g. 'sep_1'\), LSTM \(e.g. 'lstm'\); it implements InputLayer/,
    );
    expect(() => checkLayerTypes(kerasLayers(model), new Set(['InputLayer', 'SeparableConv2D', 'LSTM']), 'x')).not.toThrow();
  });
  it('a bundle holding code rather than a literal is refused, not run', () => {
    const bundle = '!function(e){}(function(){return{1:[function(e,a,n){a.exports=require("fs").readFileSync("/etc/passwd")},{}]}});';
    expect(() => parseTfjsModel(bundle, 'evil.min.js')).toThrow(/evil.min.js: expected a literal/);
  });
  it('graph models convert only as weights', async () => {
    const { model, weights } = await readTfjsModelFile(`${NSFWJS}/mobilenet_v2_mid/model.min.js`);
    expect(model.format).toBe('graph-model');
    expect(() => convertTfjs(model, weights, 'mid')).toThrow(/graph model: .* --weights-only/);
    expect(convertTfjs(model, weights, 'mid', { weightsOnly: true }).arch).toBeUndefined();
  });
  it('readTfjsWeights reads through any ShardReader', async () => {
    const model = parseTfjsModel('{"weightsManifest":[{"paths":["a"],"weights":[{"name":"w","shape":[2],"dtype":"int32"}]}],"modelTopology":{}}', 'm');
    const w = await readTfjsWeights(model, async () => new Uint8Array(new Int32Array([7, -3]).buffer), 'm');
    expect([...w.get('w')!.data]).toEqual([7, -3]);
  });
});

/**
 * The imported file holds exactly the tensors of nsfwjs's model as the parity tests (test/keras-backbones.test.ts)
 * read them, so their TF.js parity holds for what `weights import` writes.
 */
async function expectSameAsModel(reader: SafetensorsReader, model: string): Promise<void> {
  const { weights } = await readTfjsModelFile(model);
  expect([...reader.tensors.keys()].sort()).toEqual([...weights.keys()].sort());
  for (const [k, w] of weights) {
    const mine = await reader.read(k, w.shape);
    expect(Buffer.from(mine.buffer, mine.byteOffset, mine.byteLength).equals(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength)), k).toBe(true);
  }
}

describe('texad weights', () => {
  it('import nsfwjs writes mobilenet_v2.safetensors with its architecture and origin, the tensors TF.js parity was checked on', async () => {
    const out = mkdtempSync(join(tmpdir(), 'texad-nsfwjs-'));
    expect(await main(['weights', 'import', 'nsfwjs', '--out', out])).toBe(0);
    const reader = await SafetensorsReader.open(await fileSource(join(out, 'mobilenet_v2.safetensors')));
    try {
      expect(reader.metadata['texad.arch']).toBe('mobilenet_v2');
      expect(reader.metadata['texad.origin']).toMatch(/^ImageNet-initialised Keras MobileNetV2 .*, 8-bit, from nsfwjs \d+\.\d+\.\d+$/);
      expect(reader.metadata['texad.origin.detail']).toMatch(/^nsfwjs \d+\.\d+\.\d+ mobilenet_v2: ImageNet-initialised .* 8-bit/);
      expect(reader.tensors.get('block_14_expand/kernel')!.shape).toEqual([1, 1, 160, 960]);
      await expectSameAsModel(reader, `${NSFWJS}/mobilenet_v2/model.min.js`);
    } finally {
      await reader.close();
    }
    expect(await main(['weights', 'import', 'nsfwjs', '--model', 'resnet50', '--out', out])).toBe(2);
  });
  it('import nsfwjs --model inception_v3 detects InceptionV3 (BatchNorm without gamma)', async () => {
    const out = mkdtempSync(join(tmpdir(), 'texad-nsfwjs-'));
    expect(await main(['weights', 'import', 'nsfwjs', '--model', 'inception_v3', '--out', out])).toBe(0);
    const reader = await SafetensorsReader.open(await fileSource(join(out, 'inception_v3.safetensors')));
    try {
      expect(reader.metadata['texad.arch']).toBe('inception_v3');
      expect(reader.tensors.get('conv2d_94/kernel')!.shape).toEqual([1, 1, 2048, 192]);
      expect(reader.tensors.has('batch_normalization_1/gamma')).toBe(false);
      await expectSameAsModel(reader, `${NSFWJS}/inception_v3/model.min.js`);
    } finally {
      await reader.close();
    }
  });
  it('convert refuses a model of no texad architecture unless --weights-only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'texad-conv-'));
    mkdirSync(dir, { recursive: true });
    const out = join(dir, 'r.safetensors');
    expect(await main(['weights', 'convert', `${RANDOM}/model.json`, '--out', out])).toBe(1);
    expect(await main(['weights', 'convert', `${RANDOM}/model.json`, '--out', out, '--weights-only'])).toBe(0);
    const reader = await SafetensorsReader.open(await fileSource(out));
    expect(reader.metadata['texad.arch']).toBeUndefined();
    expect(reader.tensors.get('Conv1/kernel')!.shape).toEqual([3, 3, 3, 48]);
    await reader.close();
  });
});
