// `texad run --method all` (paper-layout tables over several methods) and sharded runs merged with `texad merge`:
// a 3-shard run merged equals the run on one machine; bad shard sets are refused, naming the problem, writing
// nothing. SimpleNet runs at a small size; the second method (imagemean, test-only, no pixel maps) is CPU-only.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { resolvePreset } from '../src/data/synth/generate.ts';
import { writeSynthDataset } from '../src/data/synth/write.ts';
import { parseShard, planUnits, shardUnits, unitKey } from '../src/eval/units.ts';
import { MergeError, mergeShards, type ShardManifest } from '../src/report/merge.ts';
import { categoryResult, reviveResultNaN, runResults, type MethodResults, type RunResults, type SeedResult } from '../src/report/results.ts';
import { paperTables, resultsCsv, tableMarkdown } from '../src/report/tables.ts';
import type { MetricSet } from '../src/eval/evaluate.ts';
import { VERSION } from '../src/generated/meta.ts';
import { registerImageMean } from './helpers/image-mean-method.ts';

const SIMPLENET = {
  backbone: 'resnet18', resize: 72, imagesize: 64, pretrain_embed_dimension: 32, target_embed_dimension: 32,
  dsc_hidden: 16, meta_epochs: 1, gan_epochs: 6,
};

let work = '';
let data = '';
let unregister = () => {};
// A comma list of two methods: '--method all' expands to the same code path over every registered method, which
// would train all six baselines here.
const runArgs = (out: string, ...extra: string[]) => ['run', '--method', 'simplenet,imagemean', '--data', data, '--out', out, '--seeds', '2',
  '--config', JSON.stringify({ simplenet: SIMPLENET }), '--heatmaps', '1', '--breakdown', ...extra];

async function json<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8'), reviveResultNaN) as T;
}

/** The numbers of a run: per method, category and seed every metric, per subclass too, and the summaries. */
function numbers(r: RunResults) {
  return r.methods.map((m) => ({
    method: m.method, preset: m.preset, weights: m.weights, pixelMaps: m.pixelMaps, config: m.config,
    categories: m.categories.map((c) => ({ ...c, seeds: c.seeds.map((s) => ({ ...s, seconds: null })) })),
  }));
}

/** report.md without the lines that name the date, adapter and data folder. */
async function reportTables(out: string): Promise<string> {
  const text = await readFile(join(out, 'report.md'), 'utf8');
  return text.split('\n').filter((l) => !/Adapter:|^Data:|^Fit /.test(l)).join('\n');
}

async function stderrOf(argv: string[]): Promise<{ code: number; err: string }> {
  const errors: string[] = [];
  const original = console.error;
  console.error = (...m: unknown[]) => errors.push(m.join(' '));
  try {
    return { code: await main(argv), err: errors.join('\n') };
  } finally {
    console.error = original;
  }
}

describe('units and shards', () => {
  it('assigns unit k of the plan to shard k mod n, covering the plan exactly once for any n', () => {
    const plan = planUnits(['a', 'b'], ['cloth', 'metal'], 3);
    expect(plan.map(unitKey).slice(0, 4)).toEqual(['a/cloth/seed0', 'a/cloth/seed1', 'a/cloth/seed2', 'a/metal/seed0']);
    for (const n of [1, 2, 5, 13]) {
      const all = Array.from({ length: n }, (_, i) => shardUnits(plan, { index: i, count: n })).flat().map(unitKey).sort();
      expect(all).toEqual(plan.map(unitKey).sort());
    }
    expect(shardUnits(plan, { index: 1, count: 5 }).map(unitKey)).toEqual(['a/cloth/seed1', 'b/cloth/seed0', 'b/metal/seed2']);
  });

  it('parses --shard i/n and names the form on bad input', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    for (const bad of ['3/3', '1', '-1/2', '0/0', 'a/b']) expect(() => parseShard(bad)).toThrow(/i\/n with 0 <= i < n/);
  });
});

describe('paper tables', () => {
  const metrics = (imageAUROC: number, pixelAUROC: number): MetricSet => ({
    imageAUROC, pixelAUROC, aupro: pixelAUROC, imageF1max: imageAUROC, pixelF1max: pixelAUROC, imageAP: 1, pixelAP: 1, images: 4, defective: 2,
  });
  const seed = (s: number, i: number, p: number): SeedResult =>
    ({ seed: s, metrics: metrics(i, p), perSubclass: { a: metrics(i, p) }, seconds: { fit: 1, predict: 1 }, finalLoss: 0 });
  const method = (name: string, pixelMaps: boolean, cloth: [number, number], metal: [number, number]): MethodResults => ({
    method: name, preset: 'quick', weights: 'random', pixelMaps, config: {},
    categories: [categoryResult('cloth', [seed(0, cloth[0], 0.5), seed(1, cloth[1], 0.5)], 4, 4),
      categoryResult('metal', [seed(0, metal[0], 0.7), seed(1, metal[1], 0.7)], 4, 4)],
  });
  const run = runResults({ texad: VERSION, adapter: 'x', runtime: 'node', date: '', dataset: { root: '', layout: '', protocol: 'texture-ad' }, referenceFloor: {} },
    [method('one', true, [0.8, 0.9], [0.6, 0.6]), method('two', false, [0.85, 0.85], [0.6, 0.6])]);

  it('puts mean ± std over seeds in each cell, ties bold, – without maps, and a Mean row (± std over seeds)', () => {
    const [iAuroc, pAuroc] = paperTables(run);
    expect(iAuroc!.rows.map((r) => r.category)).toEqual(['cloth', 'metal', 'Mean']);
    const md = tableMarkdown(iAuroc!, true);
    expect(md[2]).toBe('| cloth | **85.0 ± 7.1** | **85.0 ± 0.0** |');
    expect(md[3]).toBe('| metal | **60.0 ± 0.0** | **60.0 ± 0.0** |');
    // Mean over categories per seed: one = 70, 75 → 72.5 ± 3.5; two = 72.5, 72.5.
    expect(md[4]).toBe('| **Mean** | **72.5 ± 3.5** | **72.5 ± 0.0** |');
    expect(tableMarkdown(pAuroc!, false)[2]).toBe('| cloth | 50.0 | – |');
    expect(paperTables(run, { breakdown: true })[0]!.rows.map((r) => `${r.category}/${r.subclass}`))
      .toEqual(['cloth/null', 'cloth/a', 'metal/null', 'metal/a', 'Mean/null']);
    expect(resultsCsv([pAuroc!]).split('\n')[1]).toBe('P-AUROC,cloth,,50.0000,0.0000,,');
  });
});

describe('texad run --method all, --shard and texad merge', () => {
  beforeAll(async () => {
    unregister = registerImageMean();
    work = await mkdtemp(join(tmpdir(), 'texad-shards-'));
    data = join(work, 'data');
    await writeSynthDataset(data, { preset: resolvePreset('tiny'), seed: 3, categories: ['metal'] });
  });
  afterAll(async () => {
    unregister();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('writes one table per metric with methods as columns, and a 3-shard run merges to the same numbers', async () => {
    const full = join(work, 'full');
    expect(await main(runArgs(full))).toBe(0);
    const a = await json<RunResults>(join(full, 'results.json'));
    expect(a.schema).toBe(2);
    expect(a.methods.map((m) => [m.method, m.pixelMaps])).toEqual([['simplenet', true], ['imagemean', false]]);
    expect(a.categories).toBeUndefined(); // schema-1 fields only for single-method runs
    const [simplenet, imagemean] = a.methods;
    expect(simplenet!.categories[0]!.seeds).toHaveLength(2);
    expect(simplenet!.categories[0]!.summary.pixelAUROC.mean).toBeGreaterThan(0);
    expect(imagemean!.categories[0]!.seeds[1]!.metrics.pixelAUROC).toBeNaN();
    expect(imagemean!.categories[0]!.summary.imageAUROC.mean).toBeGreaterThanOrEqual(0);
    // A run of several methods carries the reference detectors' floor too, once per category.
    expect(Object.keys(a.referenceFloor)).toEqual(['metal']);
    expect(Object.keys(a.referenceFloor['metal']!)).toEqual(['patch-knn', 'colour-histogram', 'patch-knn-flat']);
    for (const m of Object.values(a.referenceFloor['metal']!)) expect(m.imageAUROC).toBeGreaterThan(0);

    const report = await readFile(join(full, 'report.md'), 'utf8');
    for (const t of ['I-AUROC', 'P-AUROC', 'AUPRO', 'I-F1max', 'P-F1max']) expect(report).toContain(`\n## ${t}\n`);
    expect(report).toContain('| Category | simplenet | imagemean |');
    expect(report).toMatch(/\| simplenet \| quick \| resnet18, seeded random weights \| random \(seeded\) \| yes \|/);
    const pAuroc = report.slice(report.indexOf('## P-AUROC'), report.indexOf('## AUPRO'));
    expect(report).toMatch(/## Reference floor\n[^#]*\| metal \| \d+\.\d \| \d+\.\d \| \d+\.\d \| \d+\.\d \|/);
    expect(pAuroc).toMatch(/\| metal \| \d+\.\d ± \d+\.\d \| – \|/); // one defined cell: nothing to compare, no bold
    const iAuroc = report.slice(report.indexOf('## I-AUROC'), report.indexOf('## P-AUROC'));
    const row = iAuroc.split('\n').find((l) => l.startsWith('| metal |'))!;
    expect(row.match(/\*\*/g)?.length ?? 0).toBeGreaterThanOrEqual(2); // the best of the row in bold
    const subclasses = Object.keys(simplenet!.categories[0]!.perSubclass);
    for (const s of subclasses) expect(iAuroc).toContain(`metal/${s} |`);

    const csv = (await readFile(join(full, 'results.csv'), 'utf8')).trim().split('\n');
    expect(csv[0]).toBe('metric,category,subclass,simplenet_mean,simplenet_std,imagemean_mean,imagemean_std');
    expect(csv).toHaveLength(1 + 5 * (1 + subclasses.length));
    expect(csv.find((l) => l.startsWith('P-AUROC,metal,,'))).toMatch(/^P-AUROC,metal,,\d+\.\d{4},\d+\.\d{4},,$/);

    const shards = [0, 1, 2].map((i) => join(work, `shard${i}`));
    for (const [i, dir] of shards.entries()) expect(await main(runArgs(dir, '--shard', `${i}/3`))).toBe(0);
    expect(existsSync(join(shards[0]!, 'results.json'))).toBe(false);
    const s0 = await json<ShardManifest>(join(shards[0]!, 'shard.json'));
    expect(s0.units.map(unitKey)).toEqual(['simplenet/metal/seed0', 'imagemean/metal/seed1']);

    const merged = join(work, 'merged');
    const merging = await stderrOf(['merge', merged, ...shards, '--breakdown']);
    expect(merging, merging.err).toEqual({ code: 0, err: '' });
    const b = await json<RunResults>(join(merged, 'results.json'));
    expect(numbers(b)).toEqual(numbers(a));
    expect(b.referenceFloor).toEqual(a.referenceFloor); // the floor survives the merge
    // report.html: the merge copied every unit's curves, so it draws the same curves as the single-machine run.
    expect((await readdir(join(merged, 'curves', 'imagemean'))).sort()).toEqual(['metal-seed0.json', 'metal-seed1.json']);
    const paths = async (dir: string) => (await readFile(join(dir, 'report.html'), 'utf8')).match(/<path d="[^"]+"/g);
    expect(await paths(merged)).toEqual(await paths(full));
    expect((await paths(full))!.length).toBe(2 * 3 + 2); // simplenet: 3 curves x 2 seeds; imagemean: image ROC only
    expect(await readFile(join(merged, 'results.csv'), 'utf8')).toBe(await readFile(join(full, 'results.csv'), 'utf8'));
    expect(await reportTables(merged)).toBe(await reportTables(full));
    expect(existsSync(join(merged, 'heatmaps', 'simplenet', 'metal'))).toBe(true);

    // Duplicated and missing units: every one named, nothing written.
    const refused = join(work, 'refused');
    const dup = await stderrOf(['merge', refused, shards[0]!, shards[0]!, shards[1]!]);
    expect(dup.code).toBe(1);
    expect(dup.err).toContain(`unit simplenet/metal/seed0 is in more than one shard: ${shards[0]}, ${shards[0]}`);
    expect(dup.err).toContain(`unit imagemean/metal/seed1 is in more than one shard`);
    expect(dup.err).toMatch(/missing units \(no shard ran them\): imagemean\/metal\/seed0$/m);
    const unfinished = await stderrOf(['merge', refused, shards[0]!, shards[1]!, join(work, 'nowhere')]);
    expect(unfinished.err).toContain(`${join(work, 'nowhere')}: no shard.json`);
    expect(existsSync(refused)).toBe(false);

    // Shards whose floors differ did not read the same images: refused, naming both.
    const s2 = await json<ShardManifest>(join(shards[2]!, 'shard.json'));
    const moved = structuredClone(s2);
    moved.referenceFloor['metal']!['patch-knn']!.imageAUROC += 0.01;
    expect(() => mergeShards([{ from: 'A', manifest: s0 }, { from: 'B', manifest: moved }])).toThrow(/reference floor of metal differs between A and B/);

    // Another configuration or texad version: the difference named.
    const other: ShardManifest = { ...s0, texad: '9.9.9', config: { ...s0.config, seeds: 3 } };
    const s1 = await json<ShardManifest>(join(shards[1]!, 'shard.json'));
    expect(() => mergeShards([{ from: 'A', manifest: s1 }, { from: 'B', manifest: other }])).toThrow(MergeError);
    try {
      mergeShards([{ from: 'A', manifest: s1 }, { from: 'B', manifest: other }]);
    } catch (err) {
      expect((err as MergeError).problems).toEqual(expect.arrayContaining([
        `texad version: ${VERSION} in A, 9.9.9 in B`, 'configuration seeds: 2 in A, 3 in B',
      ]));
    }
  });

  it('refuses a --config not keyed by method when several methods run, and unknown methods', async () => {
    const bad = await stderrOf(['run', '--method', 'all', '--data', data, '--out', join(work, 'x'), '--config', '{"meta_epochs": 1}']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/keyed by method name \(simplenet, .*imagemean\)/);
    const unknown = await stderrOf(['run', '--method', 'simplenet,nope', '--data', data, '--out', join(work, 'x')]);
    expect(unknown.err).toMatch(/unknown --method nope; available: simplenet, .*imagemean, all/);
    expect(existsSync(join(work, 'x'))).toBe(false);
  });
});
