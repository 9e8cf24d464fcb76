// Elementwise suite: memory-bound maps, reported in GB/s (inputs read + output written).
import { add, relu } from '../src/ops/elementwise.ts';
import type { Suite } from './index.ts';
import { texadCase } from './peers/texad.ts';

const SHAPE = [4, 64, 64, 64]; // 1 Mi floats: large enough that dispatch overhead is small next to the work
// 64 floats: nothing but the cost of an op (recording, submitting, the driver's launch), which decides small
// networks on real GPUs. Its GB/s are tiny; its speed-ups compare the contestants' cost per op.
const TINY = [64];

export const elementwiseSuite: Suite = {
  name: 'elementwise',
  cases: () => [
    texadCase({ op: 'add', shape: SHAPE }, (i) => add(i.a!, i.b!)),
    texadCase({ op: 'relu', shape: SHAPE }, (i) => relu(i.x!)),
    texadCase({ op: 'add', shape: TINY }, (i) => add(i.a!, i.b!)),
  ],
};
