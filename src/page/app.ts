// The page `texad serve` opens: fit any registered method on dropped good images, score dropped test images with
// heatmaps and a threshold, save and load the trained detector. It imports only texad/gpu (dist/src/gpu.js), as an
// app would; the DOM is index.html, the pixel work pixels.ts. <body data-busy> is "true" while an action runs.
import {
  METHODS, Runtime, createDetector, decodeDetectorState, encodeDetectorState, imagesInMemory, methodEntry,
  type Detector, type ImageBatch, type Progress, type RegisteredMethod,
} from '../gpu.ts';
import { drawHeatmap, prepareImage, type PreparedImage } from './pixels.ts';

const el = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  adapter: el('adapter'), banner: el('banner'),
  method: el<HTMLSelectElement>('method'), preset: el<HTMLSelectElement>('preset'), seed: el<HTMLInputElement>('seed'),
  length: el<HTMLInputElement>('length'), unit: el('unit'), description: el('description'),
  overrides: el<HTMLTextAreaElement>('overrides'), tiny: el<HTMLButtonElement>('tiny'), weights: el('weights'),
  good: el<HTMLInputElement>('good'), goodCount: el('good-count'), fit: el<HTMLButtonElement>('fit'),
  progress: el<HTMLProgressElement>('progress'), progressText: el('progress-text'),
  save: el<HTMLButtonElement>('save'), load: el<HTMLInputElement>('load'), test: el<HTMLInputElement>('test'),
  threshold: el<HTMLInputElement>('threshold'), thresholdValue: el<HTMLOutputElement>('threshold-value'),
  results: el('results'),
};

/** Shown when the browser has no adapter: the library's message says what headless Chromium needs; this, people. */
const ENABLE_WEBGPU = 'To enable WebGPU: Chrome and Edge (113+) have it on Windows, macOS and ChromeOS; on Linux enable ' +
  'chrome://flags/#enable-unsafe-webgpu and chrome://flags/#enable-vulkan; Firefox: set dom.webgpu.enabled in ' +
  'about:config where it is not on by default; Safari 26+. Open the page as http://127.0.0.1 or localhost ' +
  '(WebGPU needs a secure context).';

let rt: Runtime | undefined;
let detector: Detector | undefined;
let threshold = 0;
let goodFiles: File[] = [];
const testFiles: File[] = [];
/** Scored test images, in drop order. */
let scored: Array<{ image: PreparedImage; score: number; map: Float32Array }> = [];
/** Weights files chosen for the current method, by resource key; absent keys get seeded random weights. */
const weightFiles = new Map<string, Uint8Array>();

function banner(message: string): void {
  ui.banner.hidden = false;
  ui.banner.textContent = ui.banner.textContent ? `${ui.banner.textContent}\n${message}` : message;
}

/** Runs one user action: the page is busy meanwhile, and any error lands in the banner instead of the console. */
async function act(action: () => Promise<void>): Promise<void> {
  document.body.dataset['busy'] = 'true';
  ui.banner.hidden = true;
  ui.banner.textContent = '';
  for (const b of [ui.fit, ui.save]) b.disabled = true;
  try {
    await action();
  } catch (err) {
    banner(err instanceof Error ? err.message : String(err));
  } finally {
    ui.fit.disabled = !rt;
    ui.save.disabled = !detector;
    document.body.dataset['busy'] = 'false';
  }
}

const current = (): RegisteredMethod => methodEntry(ui.method.value);

function overrides(): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(ui.overrides.value.trim() || '{}');
  } catch (err) {
    throw new Error(`overrides: not JSON (${(err as Error).message}); write e.g. {"meta_epochs": 2}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('overrides: expected a JSON object');
  return parsed as Record<string, unknown>;
}

/** The method's resources under the chosen preset: a file input per network, a note per image folder. */
function showResources(): void {
  weightFiles.clear();
  ui.weights.replaceChildren();
  const entry = current();
  let specs;
  try {
    specs = entry.resources(ui.preset.value, overrides());
  } catch (err) {
    banner((err as Error).message);
    return;
  }
  for (const [key, spec] of Object.entries(specs)) {
    const line = document.createElement('p');
    line.className = 'note';
    if (spec.kind === 'weights') {
      const input = Object.assign(document.createElement('input'), { type: 'file', accept: '.safetensors' });
      input.dataset['key'] = key;
      input.onchange = () => act(async () => {
        const file = input.files?.[0];
        if (file) weightFiles.set(key, new Uint8Array(await file.arrayBuffer()));
      });
      line.append(`${spec.purpose}: ${spec.name}.safetensors (optional) `, input,
        ' — without it the network gets seeded random weights: everything runs, but scores on random weights say ' +
        'nothing about results with ImageNet weights (`texad weights fetch` makes the file).');
    } else {
      line.textContent = `${spec.purpose}: not available in the page; ${entry.name} ` +
        `${spec.optional ? 'runs without it' : 'needs it (use the CLI)'}.`;
    }
    ui.weights.append(line);
  }
}

function chooseMethod(name: string, preset?: string): void {
  ui.method.value = name;
  const entry = current();
  ui.preset.replaceChildren(...entry.presets.map((p) => new Option(p, p)));
  ui.preset.value = preset ?? (entry.presets.includes('quick') ? 'quick' : entry.presets[0]!);
  ui.unit.textContent = entry.unit;
  ui.description.textContent = `${entry.description}.${entry.pixelMaps ? '' : ' Image-level method: its maps repeat the score.'}`;
  showResources();
}

/** Decodes and transforms `files` for `det`; files the browser cannot decode are named in the banner and skipped. */
async function prepare(files: readonly File[], det: Detector): Promise<PreparedImage[]> {
  const images: PreparedImage[] = [];
  const failed: string[] = [];
  for (const file of files) {
    try {
      images.push(await prepareImage(file, det));
    } catch {
      failed.push(file.name);
    }
  }
  if (failed.length > 0) banner(`could not decode ${failed.join(', ')}: not an image this browser reads (skipped)`);
  return images;
}

/** Scores and maps of `images`, eight at a time. */
async function predict(det: Detector, images: readonly PreparedImage[]): Promise<{ scores: number[]; maps: Float32Array[] }> {
  const side = det.inputSize;
  const plane = 3 * side * side;
  const out = { scores: [] as number[], maps: [] as Float32Array[] };
  for (let at = 0; at < images.length; at += 8) {
    const part = images.slice(at, at + 8);
    const batch: ImageBatch = { images: new Float32Array(part.length * plane), count: part.length, height: side, width: side };
    part.forEach((img, k) => batch.images.set(img.planes, k * plane));
    const p = await det.predict(batch);
    out.scores.push(...p.scores);
    for (let k = 0; k < part.length; k++) out.maps.push(p.maps.slice(k * side * side, (k + 1) * side * side));
  }
  return out;
}

async function score(files: readonly File[]): Promise<typeof scored> {
  if (!detector || files.length === 0) return [];
  const images = await prepare(files, detector);
  const { scores, maps } = await predict(detector, images);
  return images.map((image, i) => ({ image, score: scores[i]!, map: maps[i]! }));
}

function render(): void {
  const values = [threshold, ...scored.map((s) => s.score)];
  let lo = Infinity;
  let hi = -Infinity;
  for (const { map } of scored) for (const v of map) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  Object.assign(ui.threshold, {
    min: String(Math.min(lo, ...values)), max: String(Math.max(hi, ...values)), value: String(threshold), disabled: !detector,
  });
  ui.thresholdValue.textContent = threshold.toPrecision(4);
  const side = detector?.inputSize ?? 0;
  ui.results.replaceChildren(...scored.map(({ image, score, map }) => {
    const figure = document.createElement('figure');
    figure.dataset['score'] = String(score);
    const photo = Object.assign(document.createElement('canvas'), { width: side, height: side });
    photo.getContext('2d')!.putImageData(image.pixels, 0, 0);
    const heat = Object.assign(document.createElement('canvas'), { className: 'heatmap' });
    drawHeatmap(heat, map, side, lo, hi, threshold);
    const stack = Object.assign(document.createElement('div'), { className: 'stack' });
    stack.append(photo, heat);
    const verdict = score >= threshold ? 'anomalous' : 'normal';
    const caption = document.createElement('figcaption');
    caption.append(image.name, document.createElement('br'), `score ${score.toPrecision(4)} `,
      Object.assign(document.createElement('span'), { className: verdict, textContent: verdict }));
    figure.append(stack, caption);
    return figure;
  }));
}

function showProgress(p: Progress): void {
  ui.progress.max = Math.max(1, p.total);
  ui.progress.value = p.done;
  const unit = p.phase === 'train' ? (p.unit ?? 'steps') : 'images';
  ui.progressText.textContent = `${p.phase}: ${p.done} / ${p.total} ${unit}${p.loss === undefined ? '' : `, loss ${p.loss.toPrecision(4)}`}`;
}

/** Swaps in a new detector and re-scores every test image with it. */
async function useDetector(det: Detector, newThreshold: number): Promise<void> {
  detector?.dispose();
  detector = det;
  threshold = newThreshold;
  scored = await score(testFiles);
  render();
}

async function fit(): Promise<void> {
  const entry = current();
  const det = await createDetector(rt!, entry.name, {
    preset: ui.preset.value, seed: Number(ui.seed.value), config: overrides(), resources: Object.fromEntries(weightFiles),
  });
  try {
    const good = await prepare(goodFiles, det);
    // Methods that normalise on held-out good images (EfficientAD) get the last 10% (at least one) of them.
    const held = entry.validation ? Math.max(1, Math.round(good.length / 10)) : 0;
    if (good.length < held + 1) throw new Error(`${entry.name} needs at least ${held + 1} decodable good images; got ${good.length}`);
    const asSet = (images: PreparedImage[]) => imagesInMemory(images.map((g) => g.planes), det.inputSize);
    const length = ui.length.value ? Number(ui.length.value) : undefined;
    const report = await det.fit(asSet(good.slice(0, good.length - held)), {
      ...(length ? { length } : {}), ...(held ? { validation: asSet(good.slice(good.length - held)) } : {}), onProgress: showProgress,
    });
    ui.progressText.textContent = `fitted ${report.length} ${report.unit} on ${good.length - held} images in ` +
      `${report.seconds.toFixed(1)} s, final loss ${report.finalLoss.toPrecision(4)}`;
    ui.progressText.dataset['seconds'] = String(report.seconds);
    // Default threshold: the highest score among the good images, so each of them reads as normal.
    await useDetector(det, Math.max(...(await predict(det, good)).scores));
  } catch (err) {
    if (det !== detector) det.dispose();
    throw err;
  }
}

async function save(): Promise<void> {
  const bytes = encodeDetectorState(await detector!.state(), { threshold });
  const link = Object.assign(document.createElement('a'), {
    href: URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>])), download: `texad-${detector!.method}.safetensors`,
  });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
}

/** Rebuilds the detector a file was saved from (method, configuration, seed) and restores its state into it. */
async function load(file: File): Promise<void> {
  const state = await decodeDetectorState(new Uint8Array(await file.arrayBuffer()), file.name);
  const { seed, ...config } = state.config;
  if (state.method !== ui.method.value) chooseMethod(methodEntry(state.method).name);
  ui.seed.value = String(seed ?? 0);
  ui.overrides.value = JSON.stringify(config);
  const det = await createDetector(rt!, state.method, {
    preset: ui.preset.value, seed: Number(seed ?? 0), config, resources: Object.fromEntries(weightFiles),
  });
  try {
    await det.restore(state);
  } catch (err) {
    det.dispose();
    throw err;
  }
  const saved = state.extra['threshold'];
  ui.progressText.textContent = `loaded ${file.name}`;
  await useDetector(det, typeof saved === 'number' ? saved : 0);
}

function onFiles(input: HTMLInputElement, drop: HTMLElement, take: (files: File[]) => void): void {
  input.onchange = () => take(Array.from(input.files ?? []));
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add('over');
  };
  drop.ondragleave = () => drop.classList.remove('over');
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    take(Array.from(e.dataTransfer?.files ?? []));
  };
}

/**
 * The first adapter that is not a software fallback: Chromium without a GPU offers SwiftShader (a fallback) at the
 * core level, and lavapipe through ANGLE only at the 'compatibility' level (README "Runtimes"); a fallback is
 * taken only when nothing else is offered.
 */
async function openRuntime(): Promise<{ runtime: Runtime; level: string }> {
  let core: Runtime | undefined;
  let coreError: unknown;
  try {
    core = await Runtime.create();
    if (!core.gpu.adapter.isFallbackAdapter) return { runtime: core, level: 'core' };
  } catch (err) {
    coreError = err;
  }
  try {
    const compat = await Runtime.create({ featureLevel: 'compatibility' });
    if (!core || !compat.gpu.adapter.isFallbackAdapter) {
      await core?.destroy();
      return { runtime: compat, level: 'compatibility' };
    }
    await compat.destroy();
  } catch (err) {
    if (!core) throw coreError ?? err;
  }
  return { runtime: core!, level: 'core' };
}

ui.method.replaceChildren(...Object.keys(METHODS).map((m) => new Option(m, m)));
chooseMethod(Object.keys(METHODS)[0]!);
ui.method.onchange = () => chooseMethod(ui.method.value);
ui.preset.onchange = showResources;
ui.tiny.onclick = () => {
  ui.preset.value = 'quick';
  ui.overrides.value = JSON.stringify(current().tinyConfig);
  showResources();
};
onFiles(ui.good, el('good-drop'), (files) => {
  goodFiles = files;
  ui.goodCount.textContent = `${files.length} image${files.length === 1 ? '' : 's'}`;
});
onFiles(ui.test, el('test-drop'), (files) => act(async () => {
  testFiles.push(...files);
  scored.push(...(await score(files)));
  render();
}));
ui.fit.onclick = () => act(fit);
ui.save.onclick = () => act(save);
ui.load.onchange = () => act(async () => {
  if (ui.load.files?.[0]) await load(ui.load.files[0]);
});
ui.threshold.oninput = () => {
  threshold = Number(ui.threshold.value);
  render();
};
await act(async () => {
  try {
    const { runtime, level } = await openRuntime();
    rt = runtime;
    ui.adapter.textContent = `WebGPU: ${rt.gpu.describe()}, ${level} feature level`;
  } catch (err) {
    ui.adapter.textContent = 'no WebGPU adapter';
    throw new Error(`${(err as Error).message}\n${ENABLE_WEBGPU}`);
  }
});
