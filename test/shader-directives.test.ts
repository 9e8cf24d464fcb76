// The shader preprocessor: `//! use` pulls other families' helpers in (transitively, once each, with named
// errors), `//! enum` names op codes once for WGSL and TypeScript, and the generated name types make tsc reject
// a misspelt family or entry.
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { SHADER_ENUMS, SHADER_SOURCES } from '../src/generated/shaders.ts';
import { entrySource, parseFamily, resolveConditionals, resolveUses } from '../src/runtime/pipelines.ts';
import { GpuRng } from '../src/ops/random.ts';
import { gpuRuntime } from './helpers/gpu.ts';

const entry = (name: string) => `//! entry ${name}\n@compute @workgroup_size(1) fn main() {}\n`;

describe('//! use', () => {
  it('resolves transitively, dependencies first, each family once', () => {
    const sources = {
      common: '',
      base: '//! library\nfn base() {}\n',
      left: '//! library\n//! use base\nfn left() {}\n',
      right: '//! library\n//! use base\n//! use common\nfn right() {}\n',
      top: `//! use left\n//! use right\n${entry('main')}`,
    };
    expect(resolveUses('top', sources)).toEqual(['base', 'left', 'right']);
    expect(resolveUses('base', sources)).toEqual([]);
  });

  it('names the family that uses a missing one', () => {
    const sources = { a: `//! use b\n${entry('main')}`, b: '//! library\n//! use perlinn\n' };
    expect(() => resolveUses('a', sources)).toThrow(
      /shaders\/b.wgsl has '\/\/! use perlinn' but there is no shader family 'perlinn' \(expected shaders\/perlinn.wgsl; families: a, b\)/,
    );
  });

  it('names a cycle', () => {
    const sources = { a: `//! use b\n${entry('main')}`, b: '//! library\n//! use c\n', c: '//! library\n//! use b\n' };
    expect(() => resolveUses('a', sources)).toThrow(/'\/\/! use' cycle among shader families: b -> c -> b/);
  });

  it('refuses a use line inside an entry and entries in nothing but a library', () => {
    expect(() => parseFamily('x', `${entry('main')}//! use philox\n`)).toThrow(/entry 'main' has a '\/\/! use' line/);
    expect(() => entrySource('philox', 'philox', {})).toThrow(/philox.wgsl is a '\/\/! library' without entries: include it with '\/\/! use philox'/);
  });

  it('puts the philox helpers before the random family, and they compile and draw', async () => {
    const code = entrySource('random', 'draw', { WG: 64, DIST: 0 });
    expect(code.indexOf('fn philox(')).toBeGreaterThan(-1);
    expect(code.indexOf('fn philox(')).toBeLessThan(code.indexOf('fn block_words('));
    expect(code.match(/fn philox\(/g)).toHaveLength(1);
    const rt = await gpuRuntime();
    const u = await rt.tidyAsync(async () => new GpuRng(rt, 7).uniform([8]).read());
    expect(u.every((v) => v >= 0 && v < 1)).toBe(true);
  });
});

describe('//! if', () => {
  const body = ['//! if SG', 'enable subgroups;', '//! endif', 'a', '//! if SG', 'b', '//! if RELU', 'c', '//! else', 'd', '//! endif',
    '//! else', 'e', '//! endif', 'f'].join('\n');
  it('keeps the blocks whose constant is set, nested, and hoists the kept enable directives', () => {
    expect(resolveConditionals('m', 'gemm', body, { SG: 8, RELU: false })).toEqual({ body: 'a\nb\nd\nf', enables: ['enable subgroups;'] });
    expect(resolveConditionals('m', 'gemm', body, { SG: 0, RELU: true })).toEqual({ body: 'a\ne\nf', enables: [] });
  });
  it('names the entry and the fault', () => {
    expect(() => resolveConditionals('m', 'gemm', '//! if SG\na', { SG: 1 })).toThrow(/shaders\/m.wgsl entry 'gemm': '\/\/! if' without '\/\/! endif'/);
    expect(() => resolveConditionals('m', 'gemm', '//! if XX\n//! endif', { SG: 1 })).toThrow(/'\/\/! if XX' names no constant of this entry/);
    expect(() => resolveConditionals('m', 'gemm', '//! endif', {})).toThrow(/'\/\/! endif' without an open '\/\/! if'/);
    expect(() => resolveConditionals('m', 'gemm', '//! if SG\n//! else\n//! else\n//! endif', { SG: 1 })).toThrow(/'\/\/! else' without an open/);
  });
  it('opens the gemm module with its enable directive only in the subgroup variants', () => {
    const spec = { TU: 16, TLV: 4, WGX: 64, WGY: 1, STAGED: false, LANE_ROWS: false, KT: 1, U_K_FAST: false, BIAS: false, RES: false, RELU: false };
    expect(entrySource('matmul', 'gemm', { ...spec, SG: 8 }).startsWith('enable subgroups;\n')).toBe(true);
    const plain = entrySource('matmul', 'gemm', { ...spec, SG: 0 });
    expect(plain).not.toMatch(/enable subgroups|subgroupBroadcast|subgroup_invocation_id/);
  });
});

describe('//! enum', () => {
  it('numbers the elementwise op codes once, for WGSL and TypeScript alike', () => {
    expect(SHADER_ENUMS.elementwise.UNARY.leakyRelu).toBe(1);
    expect(SHADER_ENUMS.elementwise.BINARY.first).toBe(5);
    expect(SHADER_SOURCES['elementwise']).toContain('const UNARY_LEAKY_RELU: u32 = 1u;');
    expect(SHADER_SOURCES['elementwise']).toContain('const BINARY_FIRST: u32 = 5u;');
    // No op is numbered by hand any more.
    expect(SHADER_SOURCES['elementwise']).not.toMatch(/case \d+u:/);
  });
});

describe('generated shader name types', () => {
  it('make tsc reject a wrong family or entry name', () => {
    const file = join(import.meta.dirname, 'types', 'kernel-names.ts');
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: ['@webgpu/types', 'node'],
    });
    const errors = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    // Every @ts-expect-error line is an error (else tsc reports the unused directive) and nothing else is.
    expect(errors).toEqual([]);
  });
});
