// Seeded hash weights for DRAEM's two networks, identical in TypeScript and Python (tools/draem_torch.py
// hash_uniform / hash_init): the parity test (test/draem.test.ts) and the DRAEM benchmark case (bench/draem.ts)
// start texad and PyTorch from the same weights without shipping them. hashUniform also seeds the PyramidFlow
// benchmark case (bench/pyramidflow.ts pyramidFlowHashInit).
import { hashString, splitmix32 } from '../../src/data/random.ts';
import type { Module } from '../../src/nn/layers.ts';

/** n values in [0, 1): splitmix32(FNV-1a(label) ^ splitmix32(j)) / 2^32, exact in float64 in both languages. */
export function hashUniform(label: string, n: number): Float64Array {
  const h = hashString(label);
  return Float64Array.from({ length: n }, (_, j) => splitmix32((h ^ splitmix32(j)) >>> 0) / 4294967296);
}

/** Conv biases of DRAEM's networks: index 0 or 3 of a block/db stack, index 1 of an up stack, fin_out.0. */
function isConvBias(k: string): boolean {
  const m = /\.(up_b|up\d|[a-z_]+\d*)\.(\d+)\.bias$/.exec(k);
  if (!m) return false;
  const index = Number(m[2]);
  return m[1]!.startsWith('up') ? index === 1 : index % 3 === 0;
}

/**
 * tools/draem_torch.py hash_init on one of DRAEM's networks, parameters named `prefix.name`: with
 * u = 2 hashUniform(prefix.name) - 1, conv weight 0.0346 u (the official N(0, 0.02) spread), conv bias 0.1 u, BN
 * gamma 1 + 0.0346 u, BN beta 0.
 */
export function draemHashInit(prefix: string, m: Module): void {
  for (const { name, tensor } of m.trainable()) {
    const full = `${prefix}.${name}`;
    const u = hashUniform(full, tensor.size).map((v) => 2 * v - 1);
    const conv = tensor.rank === 4 || isConvBias(full);
    const weight = name.endsWith('weight');
    tensor.rt.write(tensor, Float32Array.from(u, (x) => (conv ? (weight ? 0.0346 * x : 0.1 * x) : weight ? 1 + 0.0346 * x : 0)));
  }
}
