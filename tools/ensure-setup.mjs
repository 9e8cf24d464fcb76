#!/usr/bin/env node
// The set-up `npm run demo` and `npm test` do first, so a fresh clone needs no other command:
//   1. npm dependencies: `npm ci` when node_modules is missing or differs from package-lock.json (compared with the
//      node_modules/.package-lock.json npm writes on every install);
//   2. a WebGPU adapter: probed once with Dawn (npm `webgpu`) in a child process; without one, as root it runs
//      tools/setup-lavapipe.sh (Mesa lavapipe, Vulkan on the CPU), otherwise it prints the commands and exits 1.
// A successful probe is remembered in .texad-cache/setup.json, keyed by what could change the answer (Node, the
// webgpu version, the installed Vulkan drivers), so a run with everything in place reads two files and exits.
// Node built-ins only: it runs before node_modules exists.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SETUP_SCRIPT = 'tools/setup-lavapipe.sh';
/** Where Vulkan loaders look for drivers (ICD manifests) on Linux. */
const ICD_DIRS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

/**
 * Why node_modules does not match package-lock.json, or null when it does: every package the lockfile lists must be
 * installed at its locked version (optional packages for other platforms may be absent).
 */
export function depsProblem(root) {
  const modules = join(root, 'node_modules');
  if (!existsSync(modules)) return 'node_modules is missing';
  const lockPath = join(root, 'package-lock.json');
  if (!existsSync(lockPath)) return null;
  const hiddenPath = join(modules, '.package-lock.json');
  if (!existsSync(hiddenPath)) return 'node_modules/.package-lock.json is missing (not installed by npm 7 or later)';
  const want = readJson(lockPath).packages ?? {};
  const have = readJson(hiddenPath).packages ?? {};
  for (const [path, entry] of Object.entries(want)) {
    if (!path.startsWith('node_modules/')) continue; // the root package and workspace folders
    const got = have[path];
    if (!got) {
      if (entry.optional) continue;
      return `${path.slice('node_modules/'.length)} ${entry.version} (package-lock.json) is not installed`;
    }
    if (got.version !== entry.version) {
      return `${path.slice('node_modules/'.length)} is ${got.version} in node_modules, ${entry.version} in package-lock.json`;
    }
  }
  return null;
}

/** What the adapter probe's answer depends on; a stamp with the same key skips the probe. */
export function adapterKey(root, env = process.env) {
  let webgpu = null;
  try {
    webgpu = readJson(join(root, 'node_modules', 'webgpu', 'package.json')).version;
  } catch {
    // not installed: the probe will say so
  }
  const drivers = [];
  for (const dir of ICD_DIRS) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir).sort()) drivers.push(`${dir}/${f}@${statSync(join(dir, f)).mtimeMs}`);
  }
  return { node: process.version, platform: process.platform, arch: process.arch, webgpu, drivers, vkIcd: env.VK_ICD_FILENAMES ?? null };
}

const PROBE = `
const { createRequire } = require('node:module');
const { create } = createRequire(process.argv[1] + '/package.json')('webgpu');
create([]).requestAdapter().then((a) => {
  process.stdout.write(JSON.stringify(a ? { description: String(a.info?.description ?? a.info?.device ?? 'adapter') } : null));
  process.exit(a ? 0 : 3);
}, (e) => { process.stdout.write(JSON.stringify({ error: String(e) })); process.exit(4); });`;

/** Asks Dawn for an adapter in a child process (Dawn's own warnings stay there): { ok, detail }. */
export function probeAdapter(root) {
  const r = spawnSync(process.execPath, ['-e', PROBE, root], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  let parsed = null;
  try {
    parsed = JSON.parse(r.stdout || 'null');
  } catch {
    // reported below from stderr
  }
  if (r.status === 0) return { ok: true, detail: parsed?.description ?? 'adapter' };
  const why = parsed?.error ?? (r.status === 3 ? 'Dawn found no adapter' : (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').at(-1));
  return { ok: false, detail: why };
}

/** The manual commands tools/setup-lavapipe.sh prints for a non-root user (its message is the one source of them). */
export function manualCommands(root) {
  const script = readFileSync(join(root, SETUP_SCRIPT), 'utf8');
  const m = /cat <<MSG\n([\s\S]*?)\nMSG/.exec(script);
  return m ? m[1] : `see ${SETUP_SCRIPT}`;
}

function npmCommand(env) {
  // Under `npm run`, npm_execpath is npm's own CLI: run it with this Node rather than whatever `npm` is on PATH.
  return env.npm_execpath && /npm-cli\.c?js$/.test(env.npm_execpath)
    ? [process.execPath, [env.npm_execpath]]
    : [process.platform === 'win32' ? 'npm.cmd' : 'npm', []];
}

/**
 * Brings the checkout to a runnable state; returns the exit code. Everything with side effects comes in `io`, so
 * tests drive it without installing anything.
 */
export function ensureSetup(io = {}) {
  const root = io.root ?? ROOT;
  const env = io.env ?? process.env;
  const log = io.log ?? ((s) => console.error(s));
  const run = io.run ?? ((cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env }).status ?? 1);
  const probe = io.probe ?? (() => probeAdapter(root));
  const isRoot = io.isRoot ?? (process.getuid?.() === 0);
  const platform = io.platform ?? process.platform;

  const stale = depsProblem(root);
  if (stale) {
    log(`texad setup: ${stale}; installing the npm dependencies (npm ci)`);
    const [cmd, pre] = npmCommand(env);
    if (run(cmd, [...pre, 'ci', '--no-audit', '--no-fund']) !== 0) {
      log('texad setup: `npm ci` failed (its output is above); fix that and run the command again');
      return 1;
    }
    const still = depsProblem(root);
    if (still) {
      log(`texad setup: after npm ci, ${still}; delete node_modules and run the command again`);
      return 1;
    }
  }

  const stampPath = join(root, '.texad-cache', 'setup.json');
  const key = JSON.stringify(adapterKey(root, env));
  if (existsSync(stampPath) && readFileSync(stampPath, 'utf8') === key) return 0;
  let found = probe();
  if (!found.ok) {
    if (platform !== 'linux') {
      log(`texad setup: no WebGPU adapter (${found.detail}). Dawn needs a GPU driver: Metal on macOS, D3D12 or ` +
        'Vulkan on Windows; update the graphics driver and run the command again.');
      return 1;
    }
    if (!isRoot) {
      log(`texad setup: no WebGPU adapter (${found.detail}). Without a GPU, texad runs on Mesa lavapipe ` +
        `(Vulkan on the CPU), a system package. Install it as root, then run this command again:\n\n` +
        `  sudo bash ${SETUP_SCRIPT}\n\nor, by hand:\n${manualCommands(root)}\n` +
        '(the script also installs Chromium for the browser tests)');
      return 1;
    }
    log(`texad setup: no WebGPU adapter (${found.detail}); installing Mesa lavapipe and Chromium (${SETUP_SCRIPT})`);
    if (run('bash', [join(root, SETUP_SCRIPT)]) !== 0) {
      log(`texad setup: ${SETUP_SCRIPT} failed (its output is above)`);
      return 1;
    }
    found = probe();
    if (!found.ok) {
      log(`texad setup: still no WebGPU adapter after ${SETUP_SCRIPT} (${found.detail}); \`texad devices\` shows what ` +
        'Dawn sees; set XDG_RUNTIME_DIR if it is unset');
      return 1;
    }
  }
  mkdirSync(dirname(stampPath), { recursive: true });
  writeFileSync(stampPath, JSON.stringify(adapterKey(root, env)));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = ensureSetup();
