// PyTorch checkpoints without Python: the restricted unpickler, the .pth reader, `texad weights convert` against
// tools/export-weights.py, refusals of malicious / truncated / foreign files, and `texad weights fetch` against a
// loopback server. Fixtures: tools/golden/torch_checkpoints.py -> test/fixtures/torch/.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync as readSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { convertTorchCheckpoint } from '../src/backbones/convert.ts';
import { main } from '../src/cli/main.ts';
import { SafetensorsReader } from '../src/io/safetensors.ts';
import { PickleError, unpickle } from '../src/io/pickle.ts';
import { readTorchCheckpoint, stateDict } from '../src/io/torch.ts';
import { weightsHowTo } from '../src/methods/resources.ts';

const FIX = join(import.meta.dirname, 'fixtures', 'torch');
const fixture = async (name: string) => new Uint8Array(await readFile(join(FIX, name)));
const pdnBytes = async () => new Uint8Array(gunzipSync(await fixture('pdn_small.pth.gz')));

let work = '';
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'texad-torch-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Runs the CLI in-process; returns the exit code and what it printed. */
async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const log = vi.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (out += a.join(' ') + '\n'));
  const error = vi.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (err += a.join(' ') + '\n'));
  try {
    return { code: await main(argv), out, err };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

describe('restricted unpickler', () => {
  const opts = { globals: {}, name: 'x.pkl', allowed: 'nothing' };
  it('decodes plain values', () => {
    // pickle.dumps({'a': [1, -2, 2.5, 'é', True, None, 2**40]}, protocol=2)
    const hex = '80027d710058010000006171015d7102284b014afeffffff474004000000000000580200' +
      '0000c3a97103884e8a0600000000000165732e';
    const bytes = Uint8Array.from(hex.match(/../g)!.map((h) => parseInt(h, 16)));
    expect(unpickle(bytes, opts)).toEqual(new Map([['a', [1, -2, 2.5, 'é', true, null, 2 ** 40]]]));
  });
  it('refuses a global before anything could call it', () => {
    const bytes = new TextEncoder().encode("cos\nsystem\n(S'echo hi'\ntR.");
    expect(() => unpickle(bytes, opts)).toThrow(/refusing the Python global os\.system.*nothing was executed/);
  });
  it('refuses truncated input and unknown opcodes', () => {
    expect(() => unpickle(Uint8Array.of(0x80, 0x02, 0x58, 0xff), opts)).toThrow(/ends early.*truncated/);
    expect(() => unpickle(Uint8Array.of(0x80, 0x02, 0x49), opts)).toThrow(/unsupported pickle opcode 0x49/);
  });
});

describe('.pth reader', () => {
  it('reads every dtype, strides and offsets as torch wrote them', async () => {
    const want = JSON.parse(await readFile(join(FIX, 'dtypes.json'), 'utf8')) as {
      tensors: Record<string, { shape: number[]; data: number[] }>;
    };
    const ckpt = readTorchCheckpoint(await fixture('dtypes.pth'), 'dtypes.pth');
    const state = stateDict(ckpt);
    expect([...state.keys()]).toEqual(Object.keys(want.tensors));
    for (const [k, t] of state) {
      expect(t.shape, k).toEqual(want.tensors[k]!.shape);
      expect([...ckpt.values(t)], k).toEqual(want.tensors[k]!.data.map((v) => Math.fround(v)));
    }
  });
  it('refuses malicious pickles, naming the global', async () => {
    expect(() => readTorchCheckpoint(readFileSync('evil-system.pth'), 'evil-system.pth'))
      .toThrow(/evil-system\.pth: refusing the Python global posix\.system/);
    expect(() => readTorchCheckpoint(readFileSync('evil-eval.pth'), 'evil-eval.pth'))
      .toThrow(/refusing the Python global __builtin__\.eval/ /* protocol 2 spells builtins so */);
    expect(() => readTorchCheckpoint(readFileSync('module.pth'), 'module.pth'))
      .toThrow(/refusing the Python global torch\.nn\.modules\.conv\.Conv2d/);
  });
  it('refuses the legacy format, truncated files and non-checkpoints with the reason', async () => {
    expect(() => readTorchCheckpoint(readFileSync('legacy.pth'), 'legacy.pth')).toThrow(/legacy torch\.save format/);
    const whole = await pdnBytes();
    expect(() => readTorchCheckpoint(whole.subarray(0, whole.length - 100), 'cut.pth')).toThrow(/cut\.pth .*truncated/);
    expect(() => readTorchCheckpoint(new TextEncoder().encode('hello'), 'a.txt')).toThrow(/not a PyTorch checkpoint/);
  });
});

function readFileSync(name: string): Uint8Array {
  return new Uint8Array(readSync(join(FIX, name)));
}

describe('texad weights convert', () => {
  it('writes the same tensors as tools/export-weights.py', async () => {
    const want = JSON.parse(await readFile(join(FIX, 'pdn_small.json'), 'utf8')) as {
      tensors: Record<string, { shape: number[]; sha256: string }>;
    };
    const pth = join(work, 'teacher.pth');
    await writeFile(pth, await pdnBytes());
    const out = join(work, 'pdn_small.safetensors');
    const r = await cli(['weights', 'convert', pth, '--arch', 'pdn_small', '--out', out]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`wrote ${out}: pdn_small`);
    const reader = await SafetensorsReader.open(new Uint8Array(await readFile(out)));
    expect(reader.metadata).toEqual({ format: 'pt', 'texad.arch': 'pdn_small', 'texad.source': 'teacher.pth' });
    expect([...reader.tensors.keys()].sort()).toEqual(Object.keys(want.tensors).sort());
    for (const [k, t] of Object.entries(want.tensors)) {
      const data = await reader.read(k, t.shape);
      const sha = createHash('sha256').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
      expect(sha, k).toBe(t.sha256);
    }
  });

  it('refuses another architecture, a malicious file and bad usage, writing nothing', async () => {
    const bytes = await pdnBytes();
    await expect(convertTorchCheckpoint(bytes, 'pdn_medium', 't.pth'))
      .rejects.toThrow(/t\.pth has 4 convolutions \(a pdn_small checkpoint\), but pdn_medium has 6/);
    const pth = join(work, 'teacher.pth');
    await writeFile(pth, bytes);
    const out = join(work, 'no.safetensors');
    const r18 = await cli(['weights', 'convert', pth, '--arch', 'resnet18', '--out', out]);
    expect(r18.code).toBe(1);
    expect(r18.err).toMatch(/teacher\.pth does not fit resnet18: .*missing .*unexpected/);
    const evil = await cli(['weights', 'convert', join(FIX, 'evil-system.pth'), '--arch', 'resnet18', '--out', out]);
    expect(evil.code).toBe(1);
    expect(evil.err).toMatch(/refusing the Python global posix\.system/);
    expect((await cli(['weights', 'convert', pth, '--out', out])).code).toBe(2); // no --arch
    expect((await cli(['weights', 'convert', join(work, 'model.onnx'), '--arch', 'resnet18'])).code).toBe(2);
    expect((await cli(['weights', 'frobnicate'])).code).toBe(2);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(work)).filter((f) => f.includes('partial'))).toEqual([]);
  });
});

describe('texad weights fetch (loopback server)', () => {
  let server: Server;
  let base = '';
  let served: Uint8Array = new Uint8Array();
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url?.startsWith('/cut/')) {
        res.writeHead(200, { 'content-length': String(served.length) });
        res.write(served.subarray(0, 1000));
        res.destroy(); // the connection drops mid-download
        return;
      }
      if (!req.url?.endsWith('.pth') || req.url.includes('nope')) return void res.writeHead(404).end();
      res.writeHead(200).end(served);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('downloads, checks the hash in the file name, converts and says where it is', async () => {
    served = await pdnBytes();
    const sha = createHash('sha256').update(served).digest('hex').slice(0, 8);
    const dir = join(work, 'cache');
    const r = await cli(['weights', 'fetch', 'pdn_small', '--dir', dir, '--url', `${base}/pdn_small-${sha}.pth`]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`--weights-dir ${dir}`);
    expect(await readdir(dir)).toEqual(['pdn_small.safetensors']);
    const reader = await SafetensorsReader.open(new Uint8Array(await readFile(join(dir, 'pdn_small.safetensors'))));
    expect(reader.metadata['texad.source']).toBe(`pdn_small-${sha}.pth`);
  });

  it('keeps nothing from a download with the wrong hash, a dropped connection or a 404', async () => {
    served = await pdnBytes();
    const dir = join(work, 'cache-bad');
    process.env['TEXAD_WEIGHTS_URL'] = `${base}/models/`;
    try {
      const wrong = await cli(['weights', 'fetch', 'resnet18', '--dir', dir]);
      expect(wrong.code).toBe(1);
      expect(wrong.err).toMatch(/resnet18-f37072fd\.pth: sha256 [0-9a-f]{64} does not start with f37072fd/);
    } finally {
      delete process.env['TEXAD_WEIGHTS_URL'];
    }
    const cut = await cli(['weights', 'fetch', 'pdn_small', '--dir', dir, '--url', `${base}/cut/pdn_small-00000000.pth`]);
    expect(cut.code).toBe(1);
    expect(cut.err).toMatch(/pdn_small-00000000\.pth/);
    const missing = await cli(['weights', 'fetch', 'pdn_small', '--dir', dir, '--url', `${base}/x/pdn_small-00000000.gz`]);
    expect(missing.code).toBe(2);
    const notFound = await cli(['weights', 'fetch', 'pdn_small', '--dir', dir, '--url', `${base}/nope-00000000.pth`]);
    expect(notFound.code).toBe(1);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('texad run suggests fetch', () => {
  it('names texad weights fetch for torchvision backbones, export-weights.py for the rest', () => {
    expect(weightsHowTo({ kind: 'weights', name: 'wide_resnet50_2', purpose: 'features' }))
      .toMatch(/^texad weights fetch wide_resnet50_2 --dir <dir> .*, or python3 tools\/export-weights\.py/);
    expect(weightsHowTo({ kind: 'weights', name: 'pdn_small', purpose: 'teacher' }))
      .toMatch(/^python3 tools\/export-weights\.py pdn_small/);
  });
});
