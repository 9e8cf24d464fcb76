// The messages between DecodePool (decode-pool.ts) and its workers (decode-worker.ts). A module of its own so that
// the pool never loads the worker's module on the main thread.
import type { ResizeOptions } from './image.ts';

/** One job: an image's bytes, or the bytes of one image's masks, and how to resize them. */
export interface DecodeRequest {
  id: number;
  kind: 'image' | 'mask';
  bytes: Uint8Array[];
  opts: ResizeOptions;
}

export type DecodeReply =
  | { id: number; data: Float32Array | Uint8Array; height: number; width: number }
  | { id: number; error: string; decodeError: boolean };

/** Posted once when the worker's module has loaded and listens: DecodePool.create waits for it. */
export const READY = 'texad-decode-worker-ready';
