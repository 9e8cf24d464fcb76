#!/usr/bin/env node
// Packaging check (CI): packs texad as npm would publish it (`npm pack`, after `npm run build`), installs the
// tarball into an empty folder, and runs the README's embedding example (the first ```ts block under "Embedding
// texad") verbatim under Node and under Deno (node_modules resolution), so the documented API cannot drift from
// the shipped one. The example leaves goodImages, batch, n and masks to the reader: a short prelude defines them
// (a striped texture; one test image with a bright square, its mask). Both runtimes must print finite scores, the
// defect must score above the normal image, and the two runtimes' scores must agree.
//
//   node tools/pack-check.mjs [--keep] [--only node|deno]
// Installs with --prefer-offline: in CI `npm ci` has just filled the npm cache, so no network is needed.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;

function fail(message) {
  console.error(`pack-check: ${message}`);
  process.exit(1);
}

/** The README's embedding example, exactly as written. */
function readmeExample() {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.indexOf('\n## Embedding texad');
  if (section < 0) fail('README.md has no "## Embedding texad" section');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(section));
  if (!m) fail('the README\'s "Embedding texad" section has no ```ts block');
  return m[1];
}

// The variables the example leaves to the reader. SIDE is the quick preset's input size: the example's
// imagesInMemory() throws naming the expected size if it ever differs from detector.inputSize.
const PRELUDE = `const SIDE = 128;
const texture = (seed) => Float32Array.from({ length: 3 * SIDE * SIDE }, (_, i) =>
  0.5 + 0.2 * Math.sin((i % SIDE) / 3) + 0.05 * Math.sin(seed * 7.1 + i * 0.37));
const goodImages = [1, 2].map(texture);
const n = 2;
const batch = new Float32Array(n * 3 * SIDE * SIDE);
batch.set(texture(5), 0);
const defect = texture(6);
const masks = new Uint8Array(n * SIDE * SIDE);
for (let y = 50; y < 74; y++) for (let x = 50; x < 74; x++) {
  masks[SIDE * SIDE + y * SIDE + x] = 1;
  for (let c = 0; c < 3; c++) defect[c * SIDE * SIDE + y * SIDE + x] = 1;
}
batch.set(defect, 3 * SIDE * SIDE);
console.log = () => {}; // the example logs every progress step; only the result line below is wanted
// ---- README example, verbatim ----
`;
const EPILOGUE = `
// ---- end of the README example ----
process.stdout.write('PACK-CHECK ' + JSON.stringify({ scores: [...scores], auroc: m.auroc, bytes: bytes.length }) + '\\n');
`;

function run(cmd, args, cwd, label) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 1 << 26 });
  if (r.status !== 0) {
    fail(`${label} failed (exit ${r.status ?? r.signal}):\n${(r.stderr || '').slice(-3000)}${(r.stdout || '').slice(-1000)}`);
  }
  return r.stdout;
}

const work = mkdtempSync(join(tmpdir(), 'texad-pack-'));
try {
  if (!existsSync(join(ROOT, 'dist', 'src', 'gpu.js'))) fail('dist/ is missing: run `npm run build` first');
  const packed = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' }));
  const tarball = join(work, packed[0].filename);
  console.log(`packed ${packed[0].filename}: ${packed[0].entryCount} files, ${(packed[0].size / 1e6).toFixed(1)} MB`);
  const app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'texad-pack-check', private: true, type: 'module' }));
  run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], app, 'npm install of the tarball');
  writeFileSync(join(app, 'example.mjs'), PRELUDE + readmeExample() + EPILOGUE);
  const results = {};
  const runtimes = {
    node: () => run(process.execPath, ['example.mjs'], app, 'the README example under Node'),
    deno: () => run(join(ROOT, 'node_modules', '.bin', 'deno'), ['run', '-A', 'example.mjs'], app,
      'the README example under Deno'),
  };
  for (const [name, go] of Object.entries(runtimes)) {
    if (only && only !== name) continue;
    const line = go().split('\n').find((l) => l.startsWith('PACK-CHECK '));
    if (!line) fail(`${name}: the example printed no result line`);
    const r = JSON.parse(line.slice('PACK-CHECK '.length));
    if (!r.scores.every(Number.isFinite) || r.scores.length !== 2) fail(`${name}: scores ${JSON.stringify(r.scores)}`);
    if (!(r.scores[1] > r.scores[0])) fail(`${name}: the defect scored ${r.scores[1]}, not above the normal image's ${r.scores[0]}`);
    if (!(r.bytes > 0)) fail(`${name}: encodeDetectorState wrote ${r.bytes} bytes`);
    results[name] = r;
    console.log(`${name}: scores ${r.scores.map((s) => s.toFixed(5)).join(', ')}, pixel AUROC ${r.auroc.toFixed(4)}, state ${r.bytes} bytes`);
  }
  if (results.node && results.deno) {
    const diff = Math.max(...results.node.scores.map((s, i) => Math.abs(s - results.deno.scores[i]) / Math.max(1e-6, Math.abs(s))));
    // Different WebGPU implementations (Dawn, wgpu) may round differently; the scores must still agree closely.
    if (diff > 1e-3) fail(`Node and Deno scores differ by ${diff} (relative): ${JSON.stringify(results)}`);
    console.log(`Node and Deno agree (largest relative score difference ${diff.toExponential(2)})`);
  }
  console.log('pack-check: ok');
} finally {
  if (!argv.includes('--keep')) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
