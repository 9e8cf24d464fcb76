// Reductions suite: a row sum, memory-bound, in GB/s (the matrix read plus the sums written).
import { sum } from '../src/ops/reduce.ts';
import type { Suite } from './index.ts';
import { texadCase } from './peers/texad.ts';

export const reduceSuite: Suite = {
  name: 'reduce',
  cases: () => [texadCase({ op: 'sum_rows', rows: 1024, cols: 1024 }, (i) => sum(i.x!, [1]))],
};
