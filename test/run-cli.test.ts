// `texad run` end to end on a generated dataset: outputs, resume after a hard kill, refusal of a foreign run
// folder, and equal numbers under Deno. Uses a small backbone and input so each run takes seconds.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli/main.ts';
import { discoverDataset } from '../src/data/discover.ts';
import { textureAdProtocol } from '../src/data/protocol.ts';
import { writeSynthDataset } from '../src/data/synth/write.ts';
import { resolvePreset } from '../src/data/synth/generate.ts';
import { REFERENCE_SIZE, referenceFloor } from '../src/eval/reference.ts';
import type { RunResults } from '../src/report/results.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'dist', 'src', 'cli', 'bin.js');
const CONFIG = JSON.stringify({
  backbone: 'resnet18', resize: 72, imagesize: 64, pretrain_embed_dimension: 32, target_embed_dimension: 32,
  dsc_hidden: 16, meta_epochs: 1, gan_epochs: 6,
});

let work = '';
let data = '';
const args = (out: string) => ['run', '--data', data, '--out', out, '--preset', 'quick', '--config', CONFIG, '--heatmaps', '2'];

async function results(out: string): Promise<RunResults> {
  return JSON.parse(await readFile(join(out, 'results.json'), 'utf8')) as RunResults;
}

/** The numbers that must not depend on how the run was executed. */
function numbers(r: RunResults) {
  return r.categories!.map((c) => ({ category: c.category, seeds: c.seeds.map((s) => ({ metrics: s.metrics, loss: s.finalLoss, perSubclass: s.perSubclass })) }));
}

function runChild(command: string, argv: string[], killWhen?: () => boolean): Promise<{ code: number | null; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: process.env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    let killed = false;
    const timer = killWhen ? setInterval(() => {
      if (!killed && killWhen()) {
        killed = true;
        child.kill('SIGKILL');
      }
    }, 50) : undefined;
    child.on('error', reject);
    child.on('exit', (code) => {
      if (timer) clearInterval(timer);
      if (!killed && code !== 0) reject(new Error(`${command} ${argv.join(' ')} exited ${code}:\n${stderr}`));
      else resolve({ code, killed });
    });
  });
}

describe('texad run', () => {
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'texad-run-'));
    data = join(work, 'data');
    await writeSynthDataset(data, { preset: resolvePreset('tiny'), seed: 3, categories: ['metal'] });
  });
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('writes results.json, report.md and heatmaps; resumes after a kill with the same numbers', async () => {
    const straight = join(work, 'straight');
    expect(await main(args(straight))).toBe(0);
    const a = await results(straight);
    expect(a.categories).toHaveLength(1); // schema-1 fields of a single-method run
    expect(a.methods[0]!.categories).toEqual(a.categories);
    expect(a.categories[0]!.seeds[0]!.metrics.imageAUROC).toBeGreaterThanOrEqual(0);
    const report = await readFile(join(straight, 'report.md'), 'utf8');
    expect(report).toContain('| **Pooled** |');
    // The report says which weights its figures come from, and that random ones say nothing about real data.
    expect(report).toContain('| simplenet | quick | resnet18, seeded random weights | random (seeded) | yes |');
    // Every paper table names its columns' networks and their weights' origin (tables get copied out alone).
    expect(report.match(/^Columns: simplenet — resnet18, seeded random weights\.$/gm)).toHaveLength(5);
    expect(a.methods[0]!.backbones).toEqual({ backbone: { arch: 'resnet18', origin: 'seeded random weights' } });
    expect(report).toContain('Columns with random weights');
    // The floor: the reference detectors fitted and evaluated on the same images, in report.md and results.json.
    const floor = await referenceFloor(textureAdProtocol(await discoverDataset(data), 'metal'), REFERENCE_SIZE);
    expect(a.referenceFloor).toEqual({ metal: floor });
    const pct = (v: number) => (100 * v).toFixed(1);
    expect(report).toContain('## Reference floor');
    expect(report).toContain(`| metal | ${pct(floor['patch-knn']!.imageAUROC)} | ${pct(floor['patch-knn']!.pixelAUROC)} | ` +
      `${pct(floor['colour-histogram']!.imageAUROC)} | ${pct(floor['colour-histogram']!.pixelAUROC)} |`);
    const maps = await readdir(join(straight, 'heatmaps', 'simplenet', 'metal'));
    expect(maps.filter((f) => f.endsWith('.png')).length).toBeGreaterThan(0);
    // report.html beside it: the three curves of the unit and the panels inline.
    const html = await readFile(join(straight, 'report.html'), 'utf8');
    expect(html.match(/<path d="M/g)).toHaveLength(3);
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(maps.filter((f) => f.endsWith('.png')).length);

    // Kill the run once the first epoch checkpoint exists, then run the same command again.
    const resumed = join(work, 'resumed');
    const ckpt = join(resumed, 'checkpoints', 'simplenet', 'metal-seed0.safetensors');
    const first = await runChild(process.execPath, [BIN, ...args(resumed)], () => existsSync(ckpt));
    expect(first.killed).toBe(true);
    expect(existsSync(join(resumed, 'results.json'))).toBe(false);
    expect(await main(args(resumed))).toBe(0);
    expect(numbers(await results(resumed))).toEqual(numbers(a));
    expect((await results(resumed)).referenceFloor).toEqual(a.referenceFloor);

    // A finished run re-run: nothing is recomputed and the numbers stay.
    expect(await main(args(straight))).toBe(0);
    expect(numbers(await results(straight))).toEqual(numbers(a));
  });

  it('refuses a run folder made with another configuration, naming the difference', async () => {
    const out = join(work, 'straight');
    const errors: string[] = [];
    const original = console.error;
    console.error = (...m: unknown[]) => errors.push(m.join(' '));
    try {
      expect(await main([...args(out), '--seeds', '2'])).toBe(1);
    } finally {
      console.error = original;
    }
    expect(errors.join('\n')).toMatch(/different configuration \(seeds: 1 there, 2 now\)/);
  });

  it('gives the same numbers under Deno (tools/evaluate.ts, unbuilt sources)', async () => {
    const out = join(work, 'deno');
    const deno = join(ROOT, 'node_modules', '.bin', 'deno');
    await runChild(deno, ['run', '-A', join(ROOT, 'tools', 'evaluate.ts'), ...args(out).slice(1)]);
    const node = await results(join(work, 'straight'));
    const viaDeno = await results(out);
    expect(viaDeno.runtime).toBe('deno');
    const close = (x: number, y: number) => Math.abs(x - y) <= 1e-6 || (Number.isNaN(x) && Number.isNaN(y));
    const [n, d] = [numbers(node)[0]!.seeds[0]!.metrics, numbers(viaDeno)[0]!.seeds[0]!.metrics];
    for (const k of ['imageAUROC', 'pixelAUROC', 'aupro', 'imageF1max', 'pixelF1max'] as const) {
      expect(close(n[k], d[k]), `${k}: node ${n[k]}, deno ${d[k]}`).toBe(true);
    }
  });
});
