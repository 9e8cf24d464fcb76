import { describe, expect, it } from 'vitest';
import { channelConv2d, type ChannelConv2dOptions } from '../src/ops/depthwise.ts';
import { checkGoldenCase, gpuRuntime, gradCheck, loadGolden, randomData } from './helpers/gpu.ts';

describe('depthwise: PyTorch golden', () => {
  for (const c of loadGolden('depthwise')) {
    it(c.name, async () => {
      const rt = await gpuRuntime();
      await checkGoldenCase(rt, c, ({ x, weight, b }, a) => channelConv2d(x!, weight!, b ?? null, a as ChannelConv2dOptions));
    });
  }
});

describe('depthwise: finite-difference gradients and bad input', () => {
  it('stride 2, asymmetric padding, gradients of x, weight and bias', async () => {
    const rt = await gpuRuntime();
    const opts: ChannelConv2dOptions = { stride: 2, padding: [0, 1, 1, 0] };
    await gradCheck(rt, ([x, w, b]) => channelConv2d(x!, w!, b!, opts), [
      { data: randomData(2 * 3 * 7 * 6, 71), shape: [2, 3, 7, 6] },
      { data: randomData(3 * 9, 72), shape: [3, 1, 3, 3] },
      { data: randomData(3, 73), shape: [3] },
    ]);
  });
  it('refuses a weight that is not one kernel per channel, naming the shapes', async () => {
    const rt = await gpuRuntime();
    rt.tidy(() => {
      const x = rt.zeros([1, 4, 5, 5]);
      expect(() => channelConv2d(x, rt.zeros([4, 2, 3, 3]), null)).toThrow(/weight\[4, 2, 3, 3\].*must be \[C, 1, k, k\] with C = 4/);
    });
  });
});
