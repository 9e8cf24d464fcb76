// @tensorflow/tfjs-backend-webgpu as a benchmark peer, run in Node on Dawn's navigator.gpu. Convolutions run in
// NHWC with HWIO filters, tfjs's native layout (its NCHW path is a transpose around the NHWC kernels).
import type * as Tf from '@tensorflow/tfjs-core';
import { deviceAdapterName, peerWait } from './dawn.ts';
import { fingerprintOf, nchwToNhwc, oihwToHwio, opInputs, type OpSpec, type Runner } from './ops.ts';

/** The parts of tfjs's WebGPUBackend the harness touches. */
interface WebGpuBackend {
  device: GPUDevice;
  submitQueue(): void;
  endComputePassEncoder(): void;
}

let loaded: Promise<{ tf: typeof Tf; backend: WebGpuBackend }> | null = null;

/** Loads tfjs-core with the WebGPU backend; the backend registers itself only if navigator.gpu exists. */
function loadTfjs(): Promise<{ tf: typeof Tf; backend: WebGpuBackend }> {
  loaded ??= (async () => {
    if (!(globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu) {
      throw new Error('texad bench: install navigator.gpu (installDawnNavigator) before loading the tfjs peer');
    }
    const tf = await import('@tensorflow/tfjs-core');
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('texad bench: tfjs could not initialise its webgpu backend');
    await tf.ready();
    // tfjs computes an op on the CPU when its inputs are under 1000 elements (WEBGPU_CPU_HANDOFF_SIZE_THRESHOLD)
    // and their data is still on the host, as the bench's freshly created inputs are. The contestants are timed on
    // the GPU, so no forwarding: with it, an add of 64 floats took tfjs 3.3 us of CPU arithmetic against texad's
    // 33 us dispatch. Larger tensors are not affected. (The threshold is read when the backend loads; this switch
    // at every op.)
    tf.env().set('WEBGPU_CPU_FORWARD', false);
    return { tf, backend: tf.backend() as unknown as WebGpuBackend };
  })();
  return loaded;
}

/** The tfjs-core version, e.g. `4.22.0`. */
export async function tfjsVersion(): Promise<string> {
  return (await loadTfjs()).tf.version_core;
}

/** The adapter tfjs's device runs on (its backend creates its own device from navigator.gpu). */
export async function tfjsAdapter(): Promise<string> {
  return deviceAdapterName((await loadTfjs()).backend.device);
}

/**
 * tfjs submits every 15 dispatches and otherwise only on readback, so a timed batch must end with an explicit
 * submit of the open command encoder; its fields are private in the typings but stable across 4.x.
 */
async function finishQueued(backend: WebGpuBackend): Promise<void> {
  if ((backend as unknown as { commandEncoder: GPUCommandEncoder | null }).commandEncoder) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  await peerWait(() => backend.device.queue.onSubmittedWorkDone());
}

/** A runner for `spec` on tfjs's WebGPU backend. */
export async function tfjsRunner(spec: OpSpec): Promise<Runner | null> {
  // Whole networks are not ported to tfjs here.
  if (spec.op === 'draem_step' || spec.op === 'draem_predict' || spec.op === 'pyramidflow_step') return null;
  const { tf, backend } = await loadTfjs();
  const inputs = opInputs(spec);
  const kept: Tf.Tensor[] = [];
  const tensor = (data: Float32Array, shape: number[]) => {
    const t = tf.tensor(data, shape, 'float32');
    kept.push(t);
    return t;
  };
  let op: () => Tf.Tensor[];
  switch (spec.op) {
    case 'add': {
      const a = tensor(inputs.a!.data, inputs.a!.shape);
      const b = tensor(inputs.b!.data, inputs.b!.shape);
      op = () => [tf.add(a, b)];
      break;
    }
    case 'relu': {
      const x = tensor(inputs.x!.data, inputs.x!.shape);
      op = () => [tf.relu(x)];
      break;
    }
    case 'sum_rows': {
      const x = tensor(inputs.x!.data, inputs.x!.shape);
      op = () => [tf.sum(x, 1)];
      break;
    }
    case 'matmul': {
      const a = tensor(inputs.a!.data, inputs.a!.shape);
      const b = tensor(inputs.b!.data, inputs.b!.shape);
      op = () => [tf.matMul(a, b)];
      break;
    }
    case 'conv2d':
    case 'conv2d_backward': {
      const { n, cin, h, w, cout, k, stride, pad } = spec;
      const x4 = tensor(nchwToNhwc(inputs.x!.data, inputs.x!.shape), [n, h, w, cin]) as Tf.Tensor4D;
      const w4 = tensor(oihwToHwio(inputs.w!.data, inputs.w!.shape), [k, k, cin, cout]) as Tf.Tensor4D;
      if (spec.op === 'conv2d') {
        op = () => [tf.conv2d(x4, w4, stride, pad)];
        break;
      }
      const [, , oh, ow] = inputs.dy!.shape as [number, number, number, number];
      const dy = tensor(nchwToNhwc(inputs.dy!.data, inputs.dy!.shape), [n, oh, ow, cout]) as Tf.Tensor4D;
      // The two kernels tfjs's own conv2d gradient runs (tfjs-core gradients/Conv2D_grad).
      op = () => [
        tf.conv2dTranspose(dy, w4, [n, h, w, cin], stride, pad),
        tf.engine().runKernel('Conv2DBackpropFilter', { x: x4, dy }, {
          strides: [stride, stride], pad, dataFormat: 'NHWC', filterShape: [k, k, cin, cout],
        } as unknown as Tf.NamedAttrMap) as Tf.Tensor,
      ];
      break;
    }
  }
  return {
    async run(iterations) {
      for (let i = 0; i < iterations; i++) for (const t of op()) t.dispose();
      await finishQueued(backend);
    },
    async fingerprint() {
      const outs = op();
      const values = await Promise.all(outs.map((t) => t.data() as Promise<Float32Array>));
      for (const t of outs) t.dispose();
      return fingerprintOf(...values);
    },
    dispose() {
      for (const t of kept) t.dispose();
    },
  };
}
