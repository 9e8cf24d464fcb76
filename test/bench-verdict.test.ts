// The bench's floor verdicts are withheld when the machine was overloaded (no timing here: reports are built by hand).
import { describe, expect, it } from 'vitest';
import { formatReport, type BenchReport } from '../bench/index.ts';
import { loadWithholdsVerdict } from '../bench/harness.ts';

function report(loadAtStart: number[], loadAtEnd: number[], withheld: string | null): BenchReport {
  return {
    texad: '0', date: '2026-12-03', node: 'v20', quick: false, disableRobustness: false, method: '',
    machine: { cpu: 'cpu', cores: 2, loadAverageAtStart: loadAtStart, loadAverageAtEnd: loadAtEnd },
    adapter: { texad: 'llvmpipe' }, peers: { unavailable: {} }, wasmThreads: 2, suites: [],
    floors: [{ name: 'matmul 1024x1024x1024: texad vs the faster WebGPU peer', required: '>= 4x', measured: 4.5, pass: withheld ? null : true }],
    ...(withheld ? { verdictWithheld: withheld } : {}),
  };
}

describe('bench: floor verdicts and the load average', () => {
  it('gives a verdict only when the 1-minute load average stays within the core count at start and end', () => {
    expect(loadWithholdsVerdict([1.5, 3, 3], [2, 9, 9], 2)).toBeNull();
    expect(loadWithholdsVerdict([2.1, 0, 0], [0.5, 0, 0], 2)).toMatch(/no verdict: the 1-minute load average was 2\.1 at the start and 0\.5 at the end, above this machine's 2 cores/);
    expect(loadWithholdsVerdict([0.5], [7.25], 2)).toMatch(/0\.5 at the start and 7\.3 at the end/);
  });

  it('prints the reason instead of pass/FAIL when withheld', () => {
    const why = loadWithholdsVerdict([12, 0, 0], [14, 0, 0], 2)!;
    const text = formatReport(report([12, 0, 0], [14, 0, 0], why));
    expect(text).toContain(why);
    expect(text).toMatch(/required >= 4x, measured 4\.50x: no verdict/);
    expect(text).not.toMatch(/: pass|: FAIL/);
    expect(formatReport(report([0.4, 0, 0], [0.6, 0, 0], null))).toMatch(/measured 4\.50x: pass/);
  });
});
