// tools/tune.ts refuses to choose settings on the data they will be reported on (issue 15, "Bad input"): synthetic
// tuning seeds that are also evaluation seeds, or a tuning folder that is the evaluation folder, stop it before any
// data is generated or any model built, naming the overlap.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DENO = join(ROOT, 'node_modules', '.bin', 'deno');
// tune.ts works in a fresh folder under TMPDIR: pointing TMPDIR at an empty folder shows it created nothing.
const tmp = mkdtempSync(join(tmpdir(), 'texad-tune-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function tune(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(DENO, ['run', '-A', join(ROOT, 'tools', 'tune.ts'), '--method', 'simplenet', ...args],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, TMPDIR: tmp } });
  return { status: r.status, stderr: r.stderr };
}

describe('tools/tune.ts', () => {
  it('refuses tuning seeds that are evaluation seeds, naming them', () => {
    const r = tune('--tune-seeds', '11,2,12', '--eval-seeds', '0,1,2');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('refusing to tune on the evaluation data: synthetic seed(s) 2 are both in --tune-seeds and --eval-seeds (0, 1, 2)');
    // The default evaluation seeds (0-3: the demo's set and the README's) are protected too.
    expect(tune('--tune-seeds', '3').stderr).toContain('synthetic seed(s) 3 are both in --tune-seeds and --eval-seeds (0, 1, 2, 3)');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('refuses a tuning folder that is the evaluation folder, and a folder without --eval-data', () => {
    const same = tune('--data', join(tmp, 'set'), '--eval-data', `${join(tmp, 'set')}/`);
    expect(same.status).not.toBe(0);
    expect(same.stderr).toContain(`refusing to tune on the evaluation data: --data and --eval-data are both ${join(tmp, 'set')}`);
    expect(tune('--data', join(tmp, 'set')).stderr).toContain('--data DIR needs --eval-data DIR');
    expect(readdirSync(tmp)).toEqual([]);
  });
});
