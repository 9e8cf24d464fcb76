#!/usr/bin/env node
// Cross-runtime smoke run: tools/smoke/core.mjs (conv2d + tanh forward, backward, one Adam step on fixed values)
// under Node (dist/ build), Deno (src/ unbuilt) and headless Chromium (dist/ over a 127.0.0.1 server, driven by
// playwright-core with Debian's /usr/bin/chromium), then compares Deno's and Chromium's values with Node's.
//
//   node tools/smoke/run.mjs [--only deno,chromium] [--json]
//
// Needs `npm run build` (dist/ and src/generated/). Exit code 1 names the runtime that failed and why.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CHROMIUM, CHROMIUM_FLAGS } from './chromium.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * Node is the reference. Dawn/Vulkan, wgpu/Vulkan and Dawn/OpenGL ES over ANGLE compile the same WGSL to different
 * code (fused multiply-adds, tanh/exp implementations, summation order), so values agree to a few float32 ulps, not
 * bit for bit: |other - node| <= ATOL + RTOL * |node| for every value.
 */
const RTOL = 1e-4;
const ATOL = 1e-5;
const TIMEOUT_MS = 300_000;

class SmokeFailure extends Error {}

/** Node: the dist/ build in this process. */
async function runNode() {
  const entry = join(ROOT, 'dist', 'src', 'gpu.js');
  if (!existsSync(entry)) throw new SmokeFailure(`${entry} is missing: run \`npm run build\` first`);
  const texad = await import(pathToFileURL(entry).href);
  const { runSmoke } = await import('./core.mjs');
  try {
    return await runSmoke(texad);
  } finally {
    await texad.releaseAllDevices();
  }
}

/** Runs a child process to completion; rejects with its stderr tail on a non-zero exit or a timeout. */
function runChild(cmd, args, what) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new SmokeFailure(`${what}: cannot start ${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new SmokeFailure(`${what} exited with ${signal ?? code}${signal === 'SIGKILL' ? ` after ${TIMEOUT_MS / 1000} s` : ''}:\n${stderr.trim()}`));
    });
  });
}

/** Deno: the TypeScript sources, unbuilt (src/generated/ must exist). */
async function runDeno() {
  const deno = join(ROOT, 'node_modules', '.bin', 'deno');
  if (!existsSync(deno)) throw new SmokeFailure(`${deno} is missing: run \`npm ci\` (deno is a devDependency)`);
  if (!existsSync(join(ROOT, 'src', 'generated', 'shaders.ts'))) {
    throw new SmokeFailure('src/generated/ is missing: run `npm run build` (tools/embed.mjs writes it)');
  }
  const out = await runChild(deno, ['run', '-A', join('tools', 'smoke', 'smoke.ts')], 'deno run tools/smoke/smoke.ts');
  const line = out.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new SmokeFailure(`deno printed no result line; its output ended with:\n${out.slice(-2000)}`);
  }
}

const MIME = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json', '.map': 'application/json', '.wasm': 'application/wasm' };
const PAGE = '<!doctype html><meta charset="utf-8"><title>texad smoke</title>';

/** Serves `/` (an empty page), dist/ and tools/smoke/ read-only on 127.0.0.1 at a free port. */
function startServer() {
  const allowed = [join(ROOT, 'dist') + sep, join(ROOT, 'tools', 'smoke') + sep];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      return;
    }
    const file = normalize(join(ROOT, path));
    if (!allowed.some((dir) => file.startsWith(dir)) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Chromium: dist/ as ES modules in a page, WebGPU through a 'compatibility' adapter. */
async function runChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new SmokeFailure(`${CHROMIUM} is missing: install Debian's chromium (tools/setup-lavapipe.sh does) or set ` +
      'TEXAD_CHROMIUM; the smoke run never downloads a browser');
  }
  if (!existsSync(join(ROOT, 'dist', 'src', 'gpu.js'))) throw new SmokeFailure('dist/ is missing: run `npm run build` first');
  const { chromium } = await import('playwright-core');
  const server = await startServer();
  const url = `http://127.0.0.1:${server.address().port}/`;
  const pageLog = [];
  let browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, timeout: TIMEOUT_MS });
    const page = await browser.newPage();
    page.on('console', (m) => pageLog.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => pageLog.push(`pageerror: ${e.message}`));
    page.setDefaultTimeout(TIMEOUT_MS);
    await page.goto(url);
    return await page.evaluate(async () => {
      const texad = await import('/dist/src/gpu.js');
      const { runSmoke } = await import('/tools/smoke/core.mjs');
      return runSmoke(texad, { featureLevel: 'compatibility' });
    });
  } catch (err) {
    const log = pageLog.length ? `\npage console:\n  ${pageLog.slice(-20).join('\n  ')}` : '';
    throw new SmokeFailure(`chromium: ${err instanceof Error ? err.message : String(err)}${log}\n` +
      `(chromium ran with: ${CHROMIUM_FLAGS.join(' ')}; no adapter usually means lavapipe or ANGLE's Vulkan is missing)`);
  } finally {
    await browser?.close();
    server.close();
  }
}

/** Every value of `other` against the reference, or a description of the first disagreement. */
function compare(reference, other) {
  let maxAbs = 0;
  let maxRel = 0;
  for (const [key, want] of Object.entries(reference.values)) {
    const got = other.values[key];
    if (!got || got.length !== want.length) return { ok: false, detail: `${key}: ${got?.length ?? 'no'} values, expected ${want.length}` };
    for (let i = 0; i < want.length; i++) {
      const err = Math.abs(got[i] - want[i]);
      maxAbs = Math.max(maxAbs, err);
      maxRel = Math.max(maxRel, err / Math.max(Math.abs(want[i]), 1e-30));
      if (!(err <= ATOL + RTOL * Math.abs(want[i]))) {
        return { ok: false, maxAbs, maxRel, detail: `${key}[${i}] = ${got[i]}, node has ${want[i]} (tolerance ${ATOL} + ${RTOL} * |node|)` };
      }
    }
  }
  return { ok: true, maxAbs, maxRel };
}

async function main(argv) {
  const onlyAt = argv.indexOf('--only');
  const others = onlyAt >= 0 ? argv[onlyAt + 1].split(',') : ['deno', 'chromium'];
  const runners = { deno: runDeno, chromium: runChromium };
  for (const name of others) if (!runners[name]) throw new SmokeFailure(`--only takes deno and/or chromium, not '${name}'`);
  const node = await runNode();
  const report = { tolerance: { rtol: RTOL, atol: ATOL }, node: { adapter: node.adapter }, runs: {} };
  let failed = false;
  for (const name of others) {
    try {
      const result = await runners[name]();
      const cmp = compare(node, result);
      report.runs[name] = { adapter: result.adapter, ...cmp };
      failed ||= !cmp.ok;
    } catch (err) {
      if (!(err instanceof SmokeFailure)) throw err;
      report.runs[name] = { ok: false, detail: err.message };
      failed = true;
    }
  }
  if (argv.includes('--json')) console.log(JSON.stringify({ ...report, values: node.values }, null, 2));
  else {
    console.log(`node:     ${node.adapter} (reference)`);
    for (const [name, r] of Object.entries(report.runs)) {
      const diff = r.maxAbs === undefined ? '' : `, max |diff| ${r.maxAbs.toExponential(2)}, max rel ${r.maxRel.toExponential(2)}`;
      console.log(`${`${name}:`.padEnd(10)}${r.ok ? 'matches node' : 'FAILED'}${r.adapter ? ` on ${r.adapter}` : ''}${diff}`);
      if (!r.ok) console.log(`  ${r.detail.replaceAll('\n', '\n  ')}`);
    }
  }
  return failed ? 1 : 0;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  console.error(`smoke: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
}
