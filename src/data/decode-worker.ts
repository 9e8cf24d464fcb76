// The worker side of DecodePool (decode-pool.ts): decodes and resizes images and masks off the main thread. Runs
// as a Node worker_threads worker or as a module Web Worker (Deno, browsers); each message is one job, answered
// with the pixels (their buffer transferred, not copied) or with the error's message.
import { ImageDecodeError } from './decode.ts';
import { READY, type DecodeReply, type DecodeRequest } from './decode-protocol.ts';
import { imageFromBytes, maskFromBytes } from './image.ts';

function run(req: DecodeRequest): { reply: DecodeReply; transfer: ArrayBuffer[] } {
  try {
    const out = req.kind === 'image' ? imageFromBytes(req.bytes[0]!, req.opts) : maskFromBytes(req.bytes, req.opts);
    return { reply: { id: req.id, ...out }, transfer: [out.data.buffer as ArrayBuffer] };
  } catch (err) {
    const e = err as Error;
    return { reply: { id: req.id, error: e.message, decodeError: e instanceof ImageDecodeError }, transfer: [] };
  }
}

interface Port {
  on?(event: 'message', f: (m: DecodeRequest) => void): void;
  postMessage(m: DecodeReply | typeof READY, transfer: ArrayBuffer[]): void;
}

const webWorker = typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined';
if (webWorker) {
  const scope = globalThis as unknown as { onmessage: (e: { data: DecodeRequest }) => void } & Port;
  scope.onmessage = (e) => {
    const { reply, transfer } = run(e.data);
    scope.postMessage(reply, transfer);
  };
  scope.postMessage(READY, []);
} else if (typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string') {
  // parentPort is null unless this module runs as a worker_threads worker.
  const port = (await import('node:worker_threads')).parentPort as unknown as Port | null;
  port?.on!('message', (req) => {
    const { reply, transfer } = run(req);
    port.postMessage(reply, transfer);
  });
  port?.postMessage(READY, []);
}
