// tools/ensure-setup.mjs, the set-up `npm run demo` and `npm test` run first: stale-install detection, the
// root / non-root paths and the probe stamp, all with injected commands (nothing is installed).
import { describe, expect, it } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// A plain .mjs tool (it must run before node_modules exists).
import { depsProblem, ensureSetup, manualCommands } from '../tools/ensure-setup.mjs';

const REPO = join(import.meta.dirname, '..');

interface Checkout {
  root: string;
  install: () => void;
}

/** A checkout with a lockfile of two packages (one optional), and a fake `npm ci` that writes the install record. */
function checkout(): Checkout {
  const root = mkdtempSync(join(tmpdir(), 'texad-setup-'));
  mkdirSync(join(root, 'tools'));
  copyFileSync(join(REPO, 'tools', 'setup-lavapipe.sh'), join(root, 'tools', 'setup-lavapipe.sh'));
  const packages = {
    '': { name: 'texad', version: '0.1.0' },
    'node_modules/webgpu': { version: '0.6.2' },
    'node_modules/@deno/darwin-arm64': { version: '2.9.6', optional: true },
  };
  writeFileSync(join(root, 'package-lock.json'), JSON.stringify({ lockfileVersion: 3, packages }));
  const install = () => {
    mkdirSync(join(root, 'node_modules', 'webgpu'), { recursive: true });
    writeFileSync(join(root, 'node_modules', '.package-lock.json'),
      JSON.stringify({ lockfileVersion: 3, packages: { 'node_modules/webgpu': { version: '0.6.2' } } }));
    writeFileSync(join(root, 'node_modules', 'webgpu', 'package.json'), JSON.stringify({ version: '0.6.2' }));
  };
  return { root, install };
}

function recorder(c: Checkout, opts: { installs?: boolean; runStatus?: number } = {}) {
  const calls: string[] = [];
  const lines: string[] = [];
  return {
    calls,
    lines,
    run: (cmd: string, args: string[]) => {
      calls.push([cmd, ...args].join(' '));
      if (args.includes('ci') && opts.installs !== false) c.install();
      return opts.runStatus ?? 0;
    },
    log: (s: string) => lines.push(s),
  };
}

describe('npm dependencies', () => {
  it('are stale when node_modules is missing, unrecorded, or at another version; optional ones may be absent', () => {
    const c = checkout();
    expect(depsProblem(c.root)).toBe('node_modules is missing');
    mkdirSync(join(c.root, 'node_modules'));
    expect(depsProblem(c.root)).toMatch(/node_modules\/\.package-lock\.json is missing/);
    writeFileSync(join(c.root, 'node_modules', '.package-lock.json'), JSON.stringify({ packages: {} }));
    expect(depsProblem(c.root)).toBe('webgpu 0.6.2 (package-lock.json) is not installed');
    writeFileSync(join(c.root, 'node_modules', '.package-lock.json'),
      JSON.stringify({ packages: { 'node_modules/webgpu': { version: '0.6.1' } } }));
    expect(depsProblem(c.root)).toBe('webgpu is 0.6.1 in node_modules, 0.6.2 in package-lock.json');
    c.install();
    expect(depsProblem(c.root)).toBeNull();
  });

  it('this checkout is up to date (the shared install matches package-lock.json)', () => {
    expect(depsProblem(REPO)).toBeNull();
  });

  it('runs npm ci when stale, then goes on; stops with exit 1 when npm ci leaves it stale', () => {
    const c = checkout();
    const io = recorder(c);
    expect(ensureSetup({ root: c.root, env: {}, run: io.run, log: io.log, probe: () => ({ ok: true, detail: 'gpu' }), isRoot: false, platform: 'linux' })).toBe(0);
    expect(io.calls).toEqual(['npm ci --no-audit --no-fund']);
    expect(io.lines[0]).toMatch(/node_modules is missing; installing the npm dependencies \(npm ci\)/);

    const d = checkout();
    const broken = recorder(d, { installs: false });
    expect(ensureSetup({ root: d.root, env: {}, run: broken.run, log: broken.log, probe: () => ({ ok: true, detail: 'gpu' }), isRoot: false, platform: 'linux' })).toBe(1);
    expect(broken.lines.at(-1)).toMatch(/after npm ci, node_modules is missing; delete node_modules/);
  });

  it('uses the npm that runs the script (npm_execpath) with this Node', () => {
    const c = checkout();
    const io = recorder(c);
    ensureSetup({ root: c.root, env: { npm_execpath: '/opt/npm/bin/npm-cli.js' }, run: io.run, log: io.log,
      probe: () => ({ ok: true, detail: 'gpu' }), isRoot: false, platform: 'linux' });
    expect(io.calls[0]).toBe(`${process.execPath} /opt/npm/bin/npm-cli.js ci --no-audit --no-fund`);
  });
});

describe('WebGPU adapter', () => {
  it('without root: prints the exact commands, installs nothing, exits 1', () => {
    const c = checkout();
    c.install();
    const io = recorder(c);
    const code = ensureSetup({ root: c.root, env: {}, run: io.run, log: io.log, probe: () => ({ ok: false, detail: 'Dawn found no adapter' }), isRoot: false, platform: 'linux' });
    expect(code).toBe(1);
    expect(io.calls).toEqual([]);
    const msg = io.lines.join('\n');
    expect(msg).toMatch(/no WebGPU adapter \(Dawn found no adapter\)/);
    expect(msg).toContain('sudo bash tools/setup-lavapipe.sh');
    expect(msg).toContain('apt-get install -y --no-install-recommends -t bookworm-backports mesa-vulkan-drivers');
    expect(manualCommands(c.root)).toContain('apt-get update');
  });

  it('as root: runs tools/setup-lavapipe.sh and probes again; fails clearly when still none', () => {
    const c = checkout();
    c.install();
    let probes = 0;
    const io = recorder(c);
    const ok = ensureSetup({ root: c.root, env: {}, run: io.run, log: io.log, isRoot: true, platform: 'linux',
      probe: () => (probes++ === 0 ? { ok: false, detail: 'none' } : { ok: true, detail: 'llvmpipe' }) });
    expect(ok).toBe(0);
    expect(io.calls).toEqual([`bash ${join(c.root, 'tools', 'setup-lavapipe.sh')}`]);
    expect(probes).toBe(2);

    const d = checkout();
    d.install();
    const still = recorder(d);
    expect(ensureSetup({ root: d.root, env: {}, run: still.run, log: still.log, isRoot: true, platform: 'linux',
      probe: () => ({ ok: false, detail: 'none' }) })).toBe(1);
    expect(still.lines.at(-1)).toMatch(/still no WebGPU adapter after tools\/setup-lavapipe.sh/);
    const failing = recorder(d, { runStatus: 100 });
    expect(ensureSetup({ root: d.root, env: {}, run: failing.run, log: failing.log, isRoot: true, platform: 'linux',
      probe: () => ({ ok: false, detail: 'none' }) })).toBe(1);
    expect(failing.lines.at(-1)).toMatch(/tools\/setup-lavapipe.sh failed/);
  });

  it('other systems: names the driver to install', () => {
    const c = checkout();
    c.install();
    const io = recorder(c);
    expect(ensureSetup({ root: c.root, env: {}, run: io.run, log: io.log, isRoot: true, platform: 'darwin',
      probe: () => ({ ok: false, detail: 'none' }) })).toBe(1);
    expect(io.calls).toEqual([]);
    expect(io.lines[0]).toMatch(/Metal on macOS, D3D12 or Vulkan on Windows/);
  });

  it('a successful probe is remembered until what it depends on changes', () => {
    const c = checkout();
    c.install();
    let probes = 0;
    const probe = () => (probes++, { ok: true, detail: 'gpu' });
    const io = recorder(c);
    const args = { root: c.root, run: io.run, log: io.log, probe, isRoot: false, platform: 'linux' };
    expect(ensureSetup({ ...args, env: {} })).toBe(0);
    expect(ensureSetup({ ...args, env: {} })).toBe(0);
    expect(probes).toBe(1);
    expect(JSON.parse(readFileSync(join(c.root, '.texad-cache', 'setup.json'), 'utf8')).webgpu).toBe('0.6.2');
    expect(ensureSetup({ ...args, env: { VK_ICD_FILENAMES: '/x/icd.json' } })).toBe(0);
    expect(probes).toBe(2);
  });
});

describe('on this checkout', () => {
  it('exits 0 with nothing to say, and takes well under a second once the probe is remembered', () => {
    const run = spawnSync(process.execPath, [join(REPO, 'tools', 'ensure-setup.mjs')], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toBe('');
    const t = performance.now();
    expect(ensureSetup({ root: REPO, log: (s: string) => { throw new Error(`unexpected: ${s}`); } })).toBe(0);
    expect(performance.now() - t).toBeLessThan(1000);
  });
});
