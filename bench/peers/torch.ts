// PyTorch on the CPU as a benchmark peer: tools/bench-torch.py runs as a child process for the whole run and
// answers one JSON request per line, so its samples interleave with the WebGPU contestants' samples.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { OnnxModel } from './onnx.ts';
import { opInputs, type OpSpec, type Runner } from './ops.ts';

/** Debian's interpreter with python3-torch; override with TEXAD_BENCH_PYTHON. */
const DEFAULT_PYTHON = '/usr/bin/python3';

interface Reply {
  id: number;
  error?: string;
  ms?: number;
  fingerprint?: [number, number];
  /** The `onnx` command's graph outputs. */
  outputs?: Array<{ name: string; shape: number[] }>;
}

/**
 * The environment every PyTorch peer process runs in (this one and bench/backbones.ts's):
 * - MALLOC_MMAP_THRESHOLD_: large tensors are recycled by malloc instead of being mmap'd and page-faulted again
 *   on every iteration (PyTorch read low without it).
 * - OMP_WAIT_POLICY=PASSIVE: PyTorch's two OpenMP threads sleep at barriers instead of spinning. With spinning, one
 *   thread that loses its core to another process stalls the other: at load average ~7.5 the PyramidFlow quick step
 *   took 1,450 ms with 2 spinning threads, 76-100 ms with PASSIVE and 31 ms with 1 thread (2026-12-03). Without it
 *   PyTorch's figures under load measured the scheduler. A user-set value is kept.
 */
export function torchPeerEnv(): NodeJS.ProcessEnv {
  return { OMP_WAIT_POLICY: 'PASSIVE', ...process.env, MALLOC_MMAP_THRESHOLD_: '1073741824' };
}

/** The PyTorch child process; `close()` ends it. */
export class TorchPeer {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(r: Reply): void; reject(e: Error): void }>();
  private exited: Error | null = null;

  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    /** e.g. `1.13.0a0, 2 threads`. */
    readonly version: string,
  ) {}

  /**
   * Starts tools/bench-torch.py (`script`); rejects with the reason (no python, no torch) so the harness can
   * report the peer as unavailable.
   */
  static async start(script: string): Promise<TorchPeer> {
    const python = process.env.TEXAD_BENCH_PYTHON ?? DEFAULT_PYTHON;
    const child = spawn(python, [script], {
      env: torchPeerEnv(),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    const lines = createInterface({ input: child.stdout });
    const first = await new Promise<string>((resolve, reject) => {
      child.once('error', (e) => reject(new Error(`cannot run ${python}: ${e.message}`)));
      child.once('exit', (code) => reject(new Error(`${python} tools/bench-torch.py exited (${code}): ${stderr.trim()}`)));
      lines.once('line', resolve);
    });
    const hello = JSON.parse(first) as { torch: string; threads: number };
    const peer = new TorchPeer(child, `${hello.torch}, ${hello.threads} threads`);
    lines.on('line', (line) => peer.onReply(JSON.parse(line) as Reply));
    child.removeAllListeners('exit');
    child.on('exit', (code) => {
      peer.exited = new Error(`PyTorch peer exited (${code}): ${stderr.trim()}`);
      for (const p of peer.pending.values()) p.reject(peer.exited);
      peer.pending.clear();
    });
    return peer;
  }

  private onReply(reply: Reply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (reply.error) p.reject(new Error(`PyTorch: ${reply.error}`));
    else p.resolve(reply);
  }

  private request(body: Record<string, unknown>): Promise<Reply> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin.write(`${JSON.stringify({ id, ...body })}\n`);
    });
  }

  /** A runner for `spec`; run() reports PyTorch's own timing of its loop, so the pipe is not measured. */
  async runner(spec: OpSpec): Promise<Runner> {
    const key = JSON.stringify(spec);
    await this.request({ cmd: 'prepare', key, spec });
    return {
      run: async (iterations) => ({ overriddenDuration: (await this.request({ cmd: 'run', key, iterations })).ms! }),
      fingerprint: async () => (await this.request({ cmd: 'fingerprint', key })).fingerprint!,
      dispose: async () => {
        await this.request({ cmd: 'dispose', key });
      },
    };
  }

  /**
   * The ONNX graph of a whole-network case, exported by PyTorch's torch.onnx (opset 13) from the same weights
   * the case's PyTorch runner uses, for onnxruntime-web; null for every other op (onnx.ts encodes single ops).
   * draem_predict: input x = the images in [0, 1] ((v + 1) / 2 of the shared inputs, as bench/draem.ts feeds
   * texad), outputs map and scores.
   */
  async exportOnnx(spec: OpSpec): Promise<OnnxModel | null> {
    if (spec.op !== 'draem_predict') return null;
    const dir = await mkdtemp(join(tmpdir(), 'texad-bench-onnx-'));
    try {
      const path = join(dir, `${spec.op}.onnx`);
      const reply = await this.request({ cmd: 'onnx', spec, path });
      const x = opInputs(spec)['x']!;
      return {
        bytes: new Uint8Array(await readFile(path)),
        feeds: { x: { shape: x.shape, data: x.data.map((v) => (v + 1) / 2) } },
        outputs: reply.outputs!,
      };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /** Closes the server's stdin; it exits after answering what it was asked. */
  close(): void {
    this.child.stdin.end();
  }
}
