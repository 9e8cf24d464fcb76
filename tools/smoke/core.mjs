// @ts-check
// The smoke computation every runtime runs: a 3x3 conv2d (with bias) and tanh forward, its backward, and one Adam
// step, on fixed inputs and weights; then EfficientAD's device-side threshold (quantileTensor's radix selection and
// a greaterEqual mask) on the output, exact on every runtime. Plain JavaScript taking texad's browser-safe API as a parameter, so Node (dist/),
// Deno (src/ unbuilt) and Chromium (dist/ over HTTP) all run this very file.

/** @typedef {typeof import('../../src/gpu.ts')} Texad */
/** @typedef {{ runtime: string, adapter: string, values: Record<string, number[]> }} SmokeResult */

/** Adam's first step moves each weight by lr * sign(grad): a gradient near 0 could flip sign between runtimes. */
const MIN_GRAD = 1e-3;

/**
 * @param {number} n
 * @param {(i: number) => number} f
 */
function fill(n, f) {
  return Float32Array.from({ length: n }, (_, i) => f(i));
}

/**
 * Runs the smoke computation on a fresh runtime and returns every value it produced.
 * @param {Texad} texad texad's browser-safe API ('texad/gpu', or src/gpu.ts under Deno)
 * @param {import('../../src/gpu.ts').GpuOptions} [gpuOptions] e.g. { featureLevel: 'compatibility' } in Chromium
 * @returns {Promise<SmokeResult>}
 */
export async function runSmoke(texad, gpuOptions = {}) {
  const { Adam, Runtime, backward, ops } = texad;
  const rt = await Runtime.create(gpuOptions);
  try {
    return await rt.tidyAsync(async () => {
      const x = rt.tensor(fill(50, (i) => Math.sin(0.7 * i + 0.3)), [1, 2, 5, 5], true);
      const w = rt.tensor(fill(54, (i) => 0.3 * Math.cos(0.9 * i + 0.2)), [3, 2, 3, 3], true);
      const b = rt.tensor([0.1, -0.2, 0.05], [3], true);
      const dz = rt.tensor(fill(75, (i) => Math.cos(0.45 * i)), [1, 3, 5, 5]);
      const z = ops.tanh(ops.conv2d(x, w, b, { stride: 1, padding: 1 }));
      backward(z, dz);
      /** @type {Record<string, number[]>} */
      const values = {};
      for (const [name, t] of /** @type {const} */ ([['z', z], ['dx', x.grad], ['dw', w.grad], ['db', b.grad]])) {
        if (!t) throw new Error(`smoke: no gradient reached ${name.slice(1)}`);
        values[name] = Array.from(await t.read());
      }
      const tiny = [...values.dw, ...values.db].filter((g) => Math.abs(g) < MIN_GRAD);
      if (tiny.length > 0) throw new Error(`smoke: fixture has weight gradients below ${MIN_GRAD} (${tiny}); choose other inputs`);
      const adam = new Adam([w, b], { lr: 0.01 });
      adam.step();
      values.w = Array.from(await w.read());
      values.b = Array.from(await b.read());
      adam.dispose();
      const threshold = ops.quantileTensor(z, 0.9);
      values.quantile = Array.from(await threshold.read());
      values.mask = Array.from(await ops.greaterEqual(z, threshold).read());
      return { runtime: rt.gpu.adapter.runtime, adapter: rt.gpu.describe(), values };
    });
  } finally {
    await rt.destroy();
  }
}
