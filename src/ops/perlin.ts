// Perlin noise planes (shaders/perlin.wgsl), DRAEM's perlin.py on the GPU. The gradient angles are a tensor:
// drawn by the seeded Philox generator (randomPerlinNoise) or given (perlinNoise, for fixed-gradient goldens).
import { Params } from '../runtime/runtime.ts';
import { formatShape, type Tensor } from '../runtime/tensor.ts';
import type { GpuRng } from './random.ts';

const WG = 256;

/** Lattice cells of one sample along (rows, columns). */
export type PerlinRes = readonly [number, number];

/** Floats per sample in the angle tensor: the largest (res_y + 1) x (res_x + 1) of the batch. */
export function perlinAngleStride(res: readonly PerlinRes[]): number {
  return Math.max(1, ...res.map(([ry, rx]) => (ry + 1) * (rx + 1)));
}

/**
 * rand_perlin_2d_np(size, res[b]) of DRAEM's perlin.py for each sample b, with the gradient angles
 * `angles[b, (r * (res_x + 1) + c)]` of lattice point (r, c) (perlin.py's `2 pi rand(res_y + 1, res_x + 1)`,
 * row-major). Returns [B, 1, H, W]. H and W must be multiples of every res (perlin.py's own requirement).
 */
export function perlinNoise(angles: Tensor, res: readonly PerlinRes[], size: readonly [number, number]): Tensor {
  angles.assertAlive('perlinNoise');
  const [h, w] = size;
  const what = `perlinNoise angles${formatShape(angles.shape)} size [${h}, ${w}]`;
  const stride = perlinAngleStride(res);
  if (angles.rank !== 2 || angles.shape[0] !== res.length || angles.shape[1]! < stride) {
    throw new Error(`texad: ${what}: angles must be [${res.length}, >= ${stride}] for ${res.length} lattice resolutions`);
  }
  res.forEach(([ry, rx], b) => {
    if (!Number.isInteger(ry) || !Number.isInteger(rx) || ry < 1 || rx < 1 || h % ry !== 0 || w % rx !== 0) {
      throw new Error(`texad: ${what}: sample ${b} has lattice [${ry}, ${rx}]; each must be an integer >= 1 dividing the size`);
    }
  });
  const rt = angles.rt;
  const resT = rt.tensor(Float32Array.from(res.flat()), [res.length, 2]);
  const y = rt.empty([res.length, 1, h, w], 'perlin');
  const n = y.size;
  rt.dispatch({
    family: 'perlin',
    entry: 'noise',
    spec: { WG },
    params: new Params().u32(n, h, w, angles.shape[1]!),
    inputs: [angles, resT],
    outputs: [y],
    workgroups: rt.grid(n, WG),
    what,
  });
  resT.dispose();
  return y;
}

/** perlinNoise with angles U(0, 2 pi) from the next stream of `rng`: seeded, identical on every runtime. */
export function randomPerlinNoise(rng: GpuRng, res: readonly PerlinRes[], size: readonly [number, number]): Tensor {
  const angles = rng.uniform([res.length, perlinAngleStride(res)], 0, 2 * Math.PI);
  const y = perlinNoise(angles, res, size);
  angles.dispose();
  return y;
}
