// Compiled by test/shader-directives.test.ts (not run): the generated shader names must make tsc reject a
// misspelt family or entry. Each @ts-expect-error fails the compile if its line stops being an error.
import { Params, type KernelCall } from '../../src/runtime/runtime.ts';

const call = { params: new Params(), inputs: [], outputs: [], workgroups: [1] } as const;

export const ok: KernelCall = { family: 'random', entry: 'draw', ...call };
// @ts-expect-error 'drow' is not an entry of shaders/random.wgsl
export const wrongEntry: KernelCall = { family: 'random', entry: 'drow', ...call };
// @ts-expect-error 'randoms' is not a shader family
export const wrongFamily: KernelCall = { family: 'randoms', entry: 'draw', ...call };
// @ts-expect-error 'unary' is an entry of elementwise, not of random
export const entryOfAnotherFamily: KernelCall = { family: 'random', entry: 'unary', ...call };
// @ts-expect-error philox is a '//! library': it has no entries to dispatch
export const libraryEntry: KernelCall = { family: 'philox', entry: 'philox', ...call };
