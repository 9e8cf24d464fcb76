import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy, writeNpy, parseNpyHeader, type NpyData } from '../src/io/npy.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'metrics');

function header(dict: string, major = 1): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  let text = dict;
  text += ' '.repeat((64 - ((pre + text.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(pre + text.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0], 0);
  if (major === 1) new DataView(out.buffer).setUint16(8, text.length, true);
  else new DataView(out.buffer).setUint32(8, text.length, true);
  for (let i = 0; i < text.length; i++) out[pre + i] = text.charCodeAt(i);
  return out;
}

describe('.npy', () => {
  it('round-trips every supported dtype', () => {
    const arrays: NpyData[] = [
      new Float32Array([1.5, -0, 3e38, 1e-45]),
      new Float64Array([Math.PI, -1e300, 5e-324, 0]),
      new Uint8Array([0, 1, 255, 7]),
      new Int32Array([-1, 2 ** 31 - 1, 0, 5]),
      new BigInt64Array([-1n, 2n ** 62n, 0n, 1n]),
      new Uint16Array([0, 65535, 1, 2]),
      new Int16Array([-32768, 32767, 0, -1]),
    ];
    for (const a of arrays) {
      const back = readNpy(writeNpy(a, [2, 2]));
      expect(back.shape).toEqual([2, 2]);
      expect(back.data.constructor).toBe(a.constructor);
      expect([...back.data].map(String)).toEqual([...a].map(String));
      expect(Object.is(back.data[1], a[1])).toBe(true);
    }
    const bools = readNpy(writeNpy(new Uint8Array([1, 0, 1]), [3], '|b1'));
    expect(bools.dtype).toBe('|b1');
    expect(bools.shape).toEqual([3]);
  });

  it('reads files numpy wrote, including bool and int64 arrays', () => {
    const s = readNpy(readFileSync(join(FIXTURES, 'pixel-set', 'scores.npy')));
    expect(s.dtype).toBe('<f4');
    expect(s.shape).toEqual([12, 32, 32]);
    expect(readNpy(readFileSync(join(FIXTURES, 'pixel-set', 'labels.npy'))).dtype).toBe('|b1');
    const l = readNpy(readFileSync(join(FIXTURES, 'float64', 'labels.npy')));
    expect(l.dtype).toBe('<i8');
    expect(l.data).toBeInstanceOf(BigInt64Array);
  });

  it('reads version 2.0 headers, scalar shapes and misaligned buffers', () => {
    const h = header("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 2);
    const file = new Uint8Array(h.length + 16);
    file.set(h);
    new Float64Array(file.buffer, h.length, 2).set([1.25, -2]);
    expect([...readNpy(file).data]).toEqual([1.25, -2]);
    const shifted = new Uint8Array(file.length + 1).subarray(1);
    shifted.set(file);
    expect([...readNpy(shifted).data]).toEqual([1.25, -2]);
    const scalar = header("{'descr': '<i4', 'fortran_order': False, 'shape': (), }");
    const withValue = new Uint8Array(scalar.length + 4);
    withValue.set(scalar);
    withValue[scalar.length] = 9;
    expect(readNpy(withValue)).toMatchObject({ shape: [], data: new Int32Array([9]) });
  });

  it('names what it cannot read', () => {
    expect(() => readNpy(new Uint8Array(20))).toThrow(/not a .npy file/);
    expect(() => parseNpyHeader(header("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }"))).toThrow(
      /Fortran order; save a C-order array/,
    );
    expect(() => parseNpyHeader(header("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }"))).toThrow(
      /dtype '>f4' is not supported \(big-endian/,
    );
    expect(() => parseNpyHeader(header("{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }"))).toThrow(
      /dtype '<c8' is not supported; supported: <f4 <f8/,
    );
    expect(() => readNpy(header("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"))).toThrow(
      /data is truncated: expected 8 bytes of <f4, found 0/,
    );
    expect(() => writeNpy(new Float32Array(3), [2, 2])).toThrow(/shape \(2, 2\) holds 4 elements but the array has 3/);
  });
});
