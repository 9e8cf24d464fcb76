// safetensors reader/writer: format round trips, half-precision rounding against NumPy/PyTorch, and the errors a
// user sees for broken or mismatched files. CPU only.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SafetensorsReader, encodeSafetensors, fileSource } from '../src/io/safetensors.ts';

const dir = mkdtempSync(join(tmpdir(), 'texad-safetensors-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function halfBits(values: number[], dtype: 'F16' | 'BF16'): number[] {
  const bytes = encodeSafetensors({ t: { shape: [values.length], data: Float32Array.from(values), dtype } });
  const dataStart = bytes.length - 2 * values.length;
  return values.map((_, i) => bytes[dataStart + 2 * i]! | (bytes[dataStart + 2 * i + 1]! << 8));
}

/** A file with a hand-written header, for malformed inputs the writer would never produce. */
function rawFile(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  return out;
}

describe('safetensors', () => {
  it('round-trips F32, F16 and BF16 tensors with metadata, aligned to 8 bytes', async () => {
    const a = Float32Array.from({ length: 24 }, (_, i) => (i - 12) / 8);
    const b = Float32Array.from([1, -2, 0.5, 65504]);
    const c = Float32Array.from([1, 1.015625, -0.25]);
    const bytes = encodeSafetensors(
      { 'layer1.0.conv1.weight': { shape: [2, 3, 2, 2], data: a }, half: { shape: [4], data: b, dtype: 'F16' },
        brain: { shape: [3], data: c, dtype: 'BF16' }, empty: { shape: [0, 5], data: new Float32Array(0) } },
      { 'texad.arch': 'resnet18' },
    );
    const headerLength = new DataView(bytes.buffer).getUint32(0, true);
    expect((8 + headerLength) % 8).toBe(0);
    const r = await SafetensorsReader.open(bytes);
    expect(r.metadata).toEqual({ 'texad.arch': 'resnet18' });
    expect([...r.tensors.keys()]).toEqual(['layer1.0.conv1.weight', 'half', 'brain', 'empty']);
    expect(r.tensors.get('half')).toMatchObject({ dtype: 'F16', shape: [4] });
    expect(await r.read('layer1.0.conv1.weight', [2, 3, 2, 2])).toEqual(a);
    expect(await r.read('half')).toEqual(b);
    expect(await r.read('brain')).toEqual(c);
    expect(await r.read('empty', [0, 5])).toEqual(new Float32Array(0));
  });

  it('rounds to half precision like NumPy (F16) and PyTorch (BF16): nearest, ties to even', () => {
    // Expected bits from np.float32(v).astype(np.float16) and torch.tensor(v).to(torch.bfloat16).
    const f16: Array<[number, number]> = [
      [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65519, 0x7bff], [65520, 0x7c00], [2 ** -24, 0x0001],
      [2 ** -25, 0x0000], [3 * 2 ** -26, 0x0001], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02],
      [2 ** -14, 0x0400], [0.1, 0x2e66], [-0, 0x8000], [Infinity, 0x7c00],
    ];
    expect(halfBits(f16.map(([v]) => v), 'F16')).toEqual(f16.map(([, h]) => h));
    const bf16: Array<[number, number]> = [[1, 0x3f80], [1 + 2 ** -8, 0x3f80], [1 + 3 * 2 ** -8, 0x3f82], [0.1, 0x3dcd],
      [3.4e38, 0x7f80]];
    expect(halfBits(bf16.map(([v]) => v), 'BF16')).toEqual(bf16.map(([, h]) => h));
    const [nan16] = halfBits([NaN], 'F16');
    const [nanBf] = halfBits([NaN], 'BF16');
    expect(nan16! & 0x7c00).toBe(0x7c00);
    expect(nan16! & 0x3ff).not.toBe(0);
    expect(nanBf! & 0x7f80).toBe(0x7f80);
    expect(nanBf! & 0x7f).not.toBe(0);
  });

  it('decodes every float16 value exactly, subnormals and infinities included', async () => {
    const all = new Uint8Array(2 * 65536);
    for (let h = 0; h < 65536; h++) {
      all[2 * h] = h & 0xff;
      all[2 * h + 1] = h >> 8;
    }
    const file = rawFile({ h: { dtype: 'F16', shape: [65536], data_offsets: [0, all.length] } }, 0);
    const bytes = new Uint8Array(file.length + all.length);
    bytes.set(file);
    bytes.set(all, file.length);
    const v = await (await SafetensorsReader.open(bytes)).read('h');
    expect(v[0x0001]).toBe(2 ** -24);
    expect(v[0x03ff]).toBe(1023 * 2 ** -24);
    expect(v[0x3c00]).toBe(1);
    expect(v[0x7bff]).toBe(65504);
    expect(v[0x7c00]).toBe(Infinity);
    expect(v[0xfc00]).toBe(-Infinity);
    expect(Number.isNaN(v[0x7e00])).toBe(true);
    // Re-encoding every finite value must give back its bits.
    const finite = [...Array(65536).keys()].filter((h) => (h & 0x7c00) !== 0x7c00);
    expect(halfBits(finite.map((h) => v[h]!), 'F16')).toEqual(finite);
  });

  it('streams tensors from a file without reading the rest', async () => {
    const path = join(dir, 'two.safetensors');
    const big = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    writeFileSync(path, encodeSafetensors({ small: { shape: [2], data: Float32Array.from([3, 4]) }, big: { shape: [10, 100], data: big } }));
    const src = await fileSource(path);
    const reads: number[] = [];
    const counting = { ...src, read: (o: number, n: number) => (reads.push(n), src.read(o, n)) };
    const r = await SafetensorsReader.open(counting);
    expect(await r.read('small')).toEqual(Float32Array.from([3, 4]));
    expect(reads.slice(2)).toEqual([8]);
    expect(await r.read('big', [10, 100])).toEqual(big);
    await r.close();
  });

  it('names the file, the key and both shapes in every error', async () => {
    const good = encodeSafetensors({ w: { shape: [4, 2], data: new Float32Array(8) } });
    const r = await SafetensorsReader.open(good);
    await expect(r.read('w', [2, 4])).rejects.toThrow("safetensors bytes: tensor 'w' has shape [4, 2], expected [2, 4]");
    await expect(r.read('v')).rejects.toThrow("safetensors bytes has no tensor 'v'");

    const truncated = join(dir, 'truncated.safetensors');
    writeFileSync(truncated, good.subarray(0, good.length - 4));
    await expect(SafetensorsReader.open(await fileSource(truncated))).rejects.toThrow(
      `${truncated} is truncated: tensor 'w' ends at byte ${good.length} but the file has ${good.length - 4} bytes`,
    );
    const png = join(dir, 'image.safetensors');
    writeFileSync(png, Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]));
    await expect(SafetensorsReader.open(await fileSource(png))).rejects.toThrow(`${png} is not a safetensors file or is truncated`);
    await expect(SafetensorsReader.open(Uint8Array.from([1, 2, 3]))).rejects.toThrow('too short for the 8-byte header length');
    await expect(fileSource(join(dir, 'missing.safetensors'))).rejects.toThrow(/missing\.safetensors does not exist/);

    const notJson = rawFile({ abcdef: 1 }, 0);
    notJson.set(new TextEncoder().encode('{"a":'), 8);
    await expect(SafetensorsReader.open(notJson)).rejects.toThrow('its header is not JSON');
    await expect(SafetensorsReader.open(rawFile({ n: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, 8)).then((f) => f.read('n')))
      .rejects.toThrow("tensor 'n' is I64; texad reads F32, F16 or BF16");
    await expect(SafetensorsReader.open(rawFile({ x: { dtype: 'Q4', shape: [2], data_offsets: [0, 2] } }, 2)))
      .rejects.toThrow("header entry 'x' has unknown dtype \"Q4\"");
    await expect(SafetensorsReader.open(rawFile({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8)))
      .rejects.toThrow("header entry 'x' covers 8 bytes but F32 [3] needs 12");
    expect(() => encodeSafetensors({ x: { shape: [3], data: new Float32Array(2) } })).toThrow("tensor 'x' has 2 values but shape [3]");
  });
});
