// What every benchmark in bench/ shares: the interleaved-rounds loop, medians, output fingerprints and the
// package root. Machines of this class drift by up to 2x over minutes, so contestants are sampled side by side,
// round by round in rotated order, and speed-ups are medians of per-round time ratios.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Relative tolerance on the fingerprints (sum |y|, sum y^2) of two contestants' outputs. */
export const FINGERPRINT_RTOL = 1e-3;

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Why a peer's output fingerprint says it computed something else than texad, or null when they agree. */
export function fingerprintMismatch(got: readonly [number, number], want: readonly [number, number]): string | null {
  const bad = got.some((g, i) => !(Math.abs(g - want[i]!) <= FINGERPRINT_RTOL * Math.abs(want[i]!)));
  return bad ? `output differs from texad's (sum|y| ${got[0]} vs ${want[0]}, sum y^2 ${got[1]} vs ${want[1]})` : null;
}

/** Median over rounds of peer time / texad time within the same round; above 1 means texad is faster. */
export function perRoundSpeedup(peerMs: readonly number[], texadMs: readonly number[]): number {
  return median(peerMs.map((ms, r) => ms / texadMs[r]!));
}

/** The texad package root, found from bench/ (sources) and dist/bench/ (build) alike. */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'texad') return dir;
    dir = dirname(dir);
  }
  throw new Error('texad bench: cannot find the texad package.json above bench/');
}

/** A contestant of an interleaved run: `roundsMs` receives one time per round. */
export interface Timed {
  roundsMs: number[];
}

/**
 * Samples `contestants` round by round, in an order rotated every round (so no contestant always runs right
 * after the same neighbour), pushing each sample onto its roundsMs. A contestant whose sample throws is removed
 * (the array is edited in place) and handed to `dropped`, which may rethrow; the others keep one time per round.
 */
export async function interleavedRounds<C extends Timed>(
  contestants: C[],
  rounds: number,
  sample: (ct: C) => Promise<number>,
  dropped: (ct: C, err: Error) => Promise<void>,
  roundDone: (round: number) => void,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const ct of contestants.map((_, i) => contestants[(i + round) % contestants.length]!)) {
      try {
        ct.roundsMs.push(await sample(ct));
      } catch (err) {
        contestants.splice(contestants.indexOf(ct), 1);
        await dropped(ct, err as Error);
      }
    }
    roundDone(round);
  }
}

/**
 * Times each of `names` in interleaved rounds, a sample being `run(name, reps)` (which queues `reps` operations
 * and waits for them) divided by `reps`; a sample that throws ends the run. For the tools/ probes, which time
 * variants of one kernel against each other. Returns `{ name, roundsMs }` in the order of `names`.
 */
export async function timeInterleaved(names: readonly string[], rounds: number, reps: number,
  run: (name: string, reps: number) => Promise<unknown>): Promise<Array<{ name: string; roundsMs: number[] }>> {
  const timed = names.map((name) => ({ name, roundsMs: [] as number[] }));
  await interleavedRounds(timed, rounds, async ({ name }) => {
    const start = performance.now();
    await run(name, reps);
    return (performance.now() - start) / reps;
  }, async (_, err) => {
    throw err;
  }, () => {});
  return timed;
}

/**
 * Why a run's floor verdicts must be withheld, or null when they may be given: when the 1-minute load average
 * at the start or the end exceeds the core count, the contestants queued behind other processes for the CPU and
 * a pass or a fail says more about that queue than about the kernels. The figures themselves are still printed.
 */
export function loadWithholdsVerdict(loadAtStart: readonly number[], loadAtEnd: readonly number[], cores: number): string | null {
  const start = loadAtStart[0] ?? 0;
  const end = loadAtEnd[0] ?? 0;
  if (start <= cores && end <= cores) return null;
  return `no verdict: the 1-minute load average was ${start.toFixed(1)} at the start and ${end.toFixed(1)} at the end, ` +
    `above this machine's ${cores} cores; rerun on a quieter machine`;
}
