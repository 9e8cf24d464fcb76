// The CLI as scripts use it: `texad run --json` prints exactly results.json on stdout, `--quiet` prints nothing,
// and the exit codes are the documented ones (0 ok, 1 failure, 2 bad usage). One tiny SimpleNet run, in-process.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.ts';
import { resolvePreset } from '../src/data/synth/generate.ts';
import { writeSynthDataset } from '../src/data/synth/write.ts';
import { METHODS } from '../src/methods/index.ts';

let work = '';
let data = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'texad-scripting-'));
  data = join(work, 'data');
  await writeSynthDataset(data, { preset: resolvePreset('tiny'), seed: 5, categories: ['wafer'] });
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** Runs the CLI in-process, capturing stdout (console.log) and stderr (console.error and direct writes). */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const spies = [
    vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += a.join(' ') + '\n')),
    vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += a.join(' ') + '\n')),
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => ((err += String(chunk)), true)),
  ];
  try {
    return { code: await main(argv), out, err };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

describe('scriptable CLI', () => {
  it('run --json --quiet: stdout is exactly results.json, stderr is empty', async () => {
    const out = join(work, 'run');
    const config = JSON.stringify(METHODS['simplenet']!.tinyConfig);
    const r = await cli(['run', '--data', data, '--out', out, '--config', config, '--heatmaps', '0', '--json', '--quiet']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const printed = JSON.parse(r.out) as { methods: { method: string }[] };
    expect(printed).toEqual(JSON.parse(await readFile(join(out, 'results.json'), 'utf8')));
    expect(printed.methods.map((m) => m.method)).toEqual(['simplenet']);
    // Resumed: --quiet alone prints nothing at all.
    const quiet = await cli(['run', '--data', data, '--out', out, '--config', config, '--heatmaps', '0', '--quiet']);
    expect(quiet).toEqual({ code: 0, out: '', err: '' });
  });

  it('exit codes: 2 for bad usage, 1 for failures, 0 for help', async () => {
    const bad = await cli(['run', '--data', data, '--out', join(work, 'x'), '--json=yes']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--json takes no value, got 'yes'");
    expect((await cli(['frobnicate'])).code).toBe(2);
    const waits = await cli(['bench', '--waits', 'sometimes']);
    expect(waits.code).toBe(2);
    expect(waits.err).toContain("--waits must be one of shipped, paced, busy, got 'sometimes'");
    expect((await cli([])).code).toBe(2);
    const missing = await cli(['run', '--data', join(work, 'nowhere'), '--out', join(work, 'y'), '--quiet']);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/nowhere/);
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/exit codes: 0 success, 1 failure .*, 2 bad usage/);
    expect((await cli(['run', '--help'])).out).toMatch(/--json .*\n[\s\S]*--quiet[\s\S]*exit codes: 0 done, 1 failed/);
  });
});
