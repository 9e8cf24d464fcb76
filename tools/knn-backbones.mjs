// Diagnostic, not a method: PatchCore-style nearest-neighbour scoring on a backbone's features, to compare random
// and ImageNet-initialised backbones on the same data without training anything (README "Backbones and weights").
// Two taps are concatenated at the first tap's grid (the second bilinearly upsampled), averaged over 3x3
// neighbourhoods, and every test location scores its distance to the nearest of (at most --bank) training
// locations; the image score is the map's maximum, the map is bilinearly upsampled to the image for P-AUROC.
//   texad synth --out /tmp/s1 --seed 1
//   node tools/knn-backbones.mjs (after npm run build) --data /tmp/s1 --backbone mobilenet_v2 --weights mn.safetensors \
//     --taps block_3_expand_relu,block_6_expand_relu [--no-normalize] [--size 128] [--bank 4096]
import process from 'node:process';
import { boolFlag, numberFlag, parseArgs, stringFlag } from '../dist/src/cli/args.js';
import { loadBackbone } from '../dist/src/backbones/index.js';
import { discoverDataset } from '../dist/src/data/discover.js';
import { batches } from '../dist/src/data/loader.js';
import { protocols } from '../dist/src/data/protocol.js';
import { auroc } from '../dist/src/metrics/index.js';
import { knnSquaredDistance } from '../dist/src/ops/distance.js';
import { concat, permute } from '../dist/src/ops/layout.js';
import { avgPool2d } from '../dist/src/ops/pool.js';
import { resizeBilinear } from '../dist/src/ops/resize.js';
import { releaseAllDevices } from '../dist/src/runtime/device.js';
import { Runtime } from '../dist/src/runtime/runtime.js';

const args = parseArgs(process.argv.slice(2));
const data = stringFlag(args, 'data');
const backbone = stringFlag(args, 'backbone');
const weights = stringFlag(args, 'weights', 'random');
const taps = stringFlag(args, 'taps').split(',');
const size = numberFlag(args, 'size', 128);
const bankMax = numberFlag(args, 'bank', 4096);
const normalize = !boolFlag(args, 'no-normalize');
const category = stringFlag(args, 'category', 'all');

const rt = await Runtime.create();
try {
  const bb = await loadBackbone(rt, backbone, { weights, taps, normalize });
  /** [locations, D] features of `refs`, locations image-major; also the grid side. */
  async function features(p, refs, masks) {
    const rows = [];
    const maskList = [];
    let grid = 0;
    let dim = 0;
    for await (const batch of batches(p, refs, { size, batchSize: 4, masks })) {
      const values = await rt.tidyAsync(async () => {
        const out = bb.forward(rt.tensor(batch.images, [batch.count, 3, size, size]));
        const first = out[taps[0]];
        const [h, w] = [first.shape[2], first.shape[3]];
        const parts = taps.map((t) => (t === taps[0] ? out[t] : resizeBilinear(out[t], [h, w])));
        const joined = avgPool2d(concat(parts, 1), { kernel: 3, stride: 1, padding: 1, countIncludePad: false });
        grid = h;
        dim = joined.shape[1];
        return await permute(joined, [0, 2, 3, 1]).read();
      });
      rows.push(values);
      if (batch.masks) maskList.push(batch.masks.slice());
    }
    const all = new Float32Array(rows.reduce((a, r) => a + r.length, 0));
    let pos = 0;
    for (const r of rows) (all.set(r, pos), (pos += r.length));
    return { all, grid, dim, masks: maskList };
  }
  const desc = await discoverDataset(data);
  const selected = protocols(desc, 'texture-ad').filter((p) => category === 'all' || p.category === category);
  const line = [];
  for (const p of selected) {
    const train = await features(p, p.trainItems, false);
    const test = await features(p, p.testItems, true);
    const locations = train.all.length / train.dim;
    const step = Math.max(1, Math.ceil(locations / bankMax));
    const bankRows = Math.ceil(locations / step);
    const bank = new Float32Array(bankRows * train.dim);
    for (let i = 0; i < bankRows; i++) bank.set(train.all.subarray(i * step * train.dim, (i * step + 1) * train.dim), i * train.dim);
    const n = p.testItems.length;
    const per = test.grid * test.grid;
    const maps = await rt.tidyAsync(async () => {
      const nn = knnSquaredDistance(rt.tensor(test.all, [n * per, test.dim]), rt.tensor(bank, [bankRows, train.dim]), 1);
      const map = nn.distances.reshape([n, 1, test.grid, test.grid]);
      return await resizeBilinear(map, [size, size]).read();
    });
    const labels = p.testItems.map((r) => p.record(r).label);
    const imageScores = Float32Array.from({ length: n }, (_, i) => {
      let m = -Infinity;
      for (let j = i * size * size; j < (i + 1) * size * size; j++) m = Math.max(m, maps[j]);
      return m;
    });
    const masks = new Uint8Array(n * size * size);
    let pos = 0;
    for (const m of test.masks) (masks.set(m, pos), (pos += m.length));
    const iAuroc = auroc(imageScores, Uint8Array.from(labels));
    const pAuroc = auroc(maps, masks.map((v) => (v ? 1 : 0)));
    line.push(`${p.category} ${(100 * iAuroc).toFixed(1)} / ${(100 * pAuroc).toFixed(1)}`);
    console.log(`${p.category}: I-AUROC ${(100 * iAuroc).toFixed(1)}, P-AUROC ${(100 * pAuroc).toFixed(1)} (bank ${bankRows} of ${locations}, D ${train.dim}, grid ${test.grid})`);
  }
  console.log(`${backbone} ${weights === 'random' ? 'random' : 'weights'} ${taps.join('+')} ${normalize ? 'normalized' : '[0,1]'} | ${line.join(' | ')}`);
  bb.dispose();
} finally {
  await rt.destroy();
  await releaseAllDevices();
}
