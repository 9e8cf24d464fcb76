// One call gives a WebGPU device in Node (Dawn via npm `webgpu`), Deno (wgpu) and browsers.
import { envSwitch } from './env.ts';
import { pacedDawnWait } from './paced-polling.ts';

export type HostRuntime = 'node' | 'deno' | 'browser';

export interface GpuOptions {
  /** Passed to requestAdapter. Chromium on lavapipe needs 'compatibility' (see README). */
  featureLevel?: 'core' | 'compatibility';
  powerPreference?: GPUPowerPreference;
  /**
   * Node/Dawn only: turn off Dawn's robustness (bounds-clamping) transforms. Faster (up to 40% on lavapipe),
   * safe for texad's own kernels which guard every access; meant for benchmarks.
   */
  disableRobustness?: boolean;
  /** Node/Dawn only: extra `create()` flags, e.g. `['backend=vulkan']`. */
  dawnFlags?: string[];
  /**
   * Node/Dawn only: while texad waits for the GPU, Dawn's busy polling sleeps between polls
   * (src/runtime/paced-polling.ts). Default: on for CPU adapters such as lavapipe, whose "GPU" runs on the cores a
   * busy poll takes (GEMMs up to 2x faster on 2 cores); off for real GPUs, where it would only add latency. When unset,
   * the environment variable TEXAD_PACED_POLLING (1/on or 0/off) decides before the adapter does.
   */
  pacedPolling?: boolean;
}

export interface AdapterReport {
  runtime: HostRuntime;
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  isFallbackAdapter: boolean;
  /** Lanes per subgroup the adapter may use (0 where it does not say); CPU drivers fix both to their SIMD width. */
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export interface Gpu {
  readonly device: GPUDevice;
  readonly adapter: AdapterReport;
  readonly limits: GPUSupportedLimits;
  readonly features: ReadonlySet<string>;
  /** Set once the device is lost; every later GPU call throws this. */
  readonly lostError: Error | undefined;
  /** Whether texad's waits pace Dawn's polls (GpuOptions.pacedPolling). */
  readonly pacedPolling: boolean;
  /** One line naming the adapter, for logs and reports. */
  describe(): string;
  /**
   * Starts a GPU operation that settles later (`start` calls e.g. queue.onSubmittedWorkDone or mapAsync) and waits
   * for it, pacing Dawn's polls where pacedPolling is on.
   */
  waitFor<T>(start: () => Promise<T>): Promise<T>;
  release(): Promise<void>;
}

/** The adapter limits texad asks for at their adapter values instead of the small spec defaults. */
const REQUESTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
] as const;

// 'subgroups': the GEMM's subgroup variants (src/ops/gemm.ts), 1.7x on lavapipe's 1024^3 matmul.
const OPTIONAL_FEATURES: GPUFeatureName[] = ['timestamp-query', 'subgroups' as GPUFeatureName];

export function hostRuntime(): HostRuntime {
  const g = globalThis as { Deno?: unknown; window?: unknown; process?: { versions?: { node?: string } } };
  if (g.Deno !== undefined) return 'deno';
  if (g.process?.versions?.node !== undefined && g.window === undefined) return 'node';
  return 'browser';
}

let dawnInstance: GPU | null = null;
const liveDevices = new Set<Gpu>();

async function nodeGpu(opts: GpuOptions): Promise<GPU> {
  if (dawnInstance) return dawnInstance;
  let mod: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    const name = 'webgpu'; // kept in a variable so bundlers for Deno/browsers leave it alone
    mod = (await import(name)) as typeof mod;
  } catch (err) {
    throw new Error(
      `texad: could not load the Dawn WebGPU bindings (npm package 'webgpu'): ${(err as Error).message}. ` +
        `Install it with 'npm install webgpu' (prebuilt for linux-x64, darwin, win32).`,
    );
  }
  for (const [k, v] of Object.entries(mod.globals)) {
    if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  }
  const flags = [...(opts.dawnFlags ?? [])];
  if (opts.disableRobustness) flags.push('enable-dawn-features=disable_robustness');
  dawnInstance = mod.create(flags);
  return dawnInstance;
}

function noAdapterError(runtime: HostRuntime): Error {
  const fix: Record<HostRuntime, string> = {
    node:
      'On a machine without a GPU install Mesa lavapipe (Vulkan on the CPU): run `npm run setup` as root, ' +
      'or see tools/setup-lavapipe.sh for the apt commands (Debian bookworm needs mesa-vulkan-drivers 25.x from ' +
      'bookworm-backports; 22.x is rejected by Dawn). Set XDG_RUNTIME_DIR if it is unset.',
    deno: 'Deno needs a Vulkan driver: on a machine without a GPU install Mesa lavapipe (`npm run setup`).',
    browser:
      'The browser exposes no WebGPU adapter: use a WebGPU-enabled browser; headless Chromium needs ' +
      '--enable-unsafe-webgpu, and on lavapipe --use-angle=vulkan --use-webgpu-adapter=opengles with ' +
      "featureLevel 'compatibility'.",
  };
  return new Error(`texad: no WebGPU adapter found (${runtime}). ${fix[runtime]}`);
}

/** Whether the adapter is a CPU implementation (lavapipe/llvmpipe, SwiftShader, WARP). */
export function isCpuAdapter(a: AdapterReport): boolean {
  return a.isFallbackAdapter || a.architecture === 'software' || /llvmpipe|lavapipe|swiftshader|warp/i.test(`${a.description} ${a.device}`);
}

function readAdapterInfo(adapter: GPUAdapter, runtime: HostRuntime): AdapterReport {
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  // Dawn exposes the fields as prototype getters, so read them one by one instead of spreading.
  const field = (k: 'vendor' | 'architecture' | 'device' | 'description') => String(info?.[k] ?? '');
  const fallback = (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ??
    (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  return {
    runtime,
    vendor: field('vendor'),
    architecture: field('architecture'),
    device: field('device'),
    description: field('description'),
    isFallbackAdapter: Boolean(fallback),
    subgroupMinSize: Number((info as { subgroupMinSize?: number } | undefined)?.subgroupMinSize ?? 0),
    subgroupMaxSize: Number((info as { subgroupMaxSize?: number } | undefined)?.subgroupMaxSize ?? 0),
  };
}

/** A plain copy: Dawn exposes limits as prototype getters, which spreading or JSON would drop. */
function plainLimits(limits: GPUSupportedLimits): GPUSupportedLimits {
  const out: Record<string, number> = {};
  for (const name of [...REQUESTED_LIMITS, 'maxUniformBufferBindingSize', 'minStorageBufferOffsetAlignment',
    'minUniformBufferOffsetAlignment', 'maxBindGroups']) {
    const v = (limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') out[name] = v;
  }
  return out as unknown as GPUSupportedLimits;
}

/** How long Gpu.release waits for submitted work before destroying the device anyway. */
const RELEASE_DRAIN_MS = 30_000;

/** Requests an adapter and a device with the adapter's real limits. Throws a clear error when there is none. */
export async function acquireGpu(opts: GpuOptions = {}): Promise<Gpu> {
  const runtime = hostRuntime();
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const gpu = runtime === 'node' && !nav?.gpu ? await nodeGpu(opts) : nav?.gpu;
  if (!gpu) throw noAdapterError(runtime);
  const adapterOpts: GPURequestAdapterOptions & { featureLevel?: string } = {};
  if (opts.powerPreference) adapterOpts.powerPreference = opts.powerPreference;
  if (opts.featureLevel) adapterOpts.featureLevel = opts.featureLevel;
  const adapter = await gpu.requestAdapter(adapterOpts);
  if (!adapter) throw noAdapterError(runtime);

  const requiredLimits: Record<string, number> = {};
  for (const name of REQUESTED_LIMITS) {
    const v = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof v === 'number') requiredLimits[name] = v;
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const report = readAdapterInfo(adapter, runtime);

  let lostError: Error | undefined;
  let released = false;
  device.lost.then((info) => {
    if (!released) lostError = new Error(`texad: the GPU device was lost (${info.reason}): ${info.message}`);
  });
  const features = new Set<string>([...device.features]);
  const pacedPolling = runtime === 'node' && (opts.pacedPolling ?? envSwitch('TEXAD_PACED_POLLING') ?? isCpuAdapter(report));

  const handle: Gpu = {
    device,
    adapter: report,
    limits: plainLimits(device.limits),
    features,
    get lostError() {
      return lostError;
    },
    pacedPolling,
    waitFor: (start) => (pacedPolling ? pacedDawnWait(start) : start()),
    describe() {
      const name = report.description || report.device || report.vendor || 'unknown adapter';
      return `${name}${report.isFallbackAdapter ? ' (fallback/software)' : ''} via ${runtime}`;
    },
    async release() {
      if (released) return;
      released = true;
      liveDevices.delete(handle);
      // Let the queue drain before the device goes. A step that reads nothing back (EfficientAD, MSFlow) leaves
      // command buffers running on lavapipe's threads when a caller is done with it; destroying the Vulkan
      // device under them is the one crash path seen in CI (a test worker that exited mid-file, not reproduced
      // in two local runs). Bounded, so a lost or hung device cannot hold a shutdown forever.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        handle.waitFor(() => device.queue.onSubmittedWorkDone()).catch(() => undefined),
        new Promise((resolve) => { timer = setTimeout(resolve, RELEASE_DRAIN_MS); }),
      ]);
      clearTimeout(timer);
      device.destroy();
      if (liveDevices.size === 0) dawnInstance = null; // lets Node exit: Dawn holds the loop while referenced
    },
  };
  liveDevices.add(handle);
  return handle;
}

/** Destroys every device acquired through texad; the Node process can then exit. */
export async function releaseAllDevices(): Promise<void> {
  for (const gpu of [...liveDevices]) await gpu.release();
}
