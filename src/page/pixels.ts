// The browser page's pixel work: image files → the CHW planes a detector takes, and anomaly maps → heatmap overlays.
// The browser decodes (createImageBitmap) and resizes (canvas drawImage, 'high' smoothing): texad/gpu has no
// decoders, and the Node loader's resize (src/data/image.ts) sits beside the Node-only PNG/JPEG decoders.

/** How a detector wants its input: Detector.resize / resizeMode / inputSize. */
export interface InputGeometry {
  resize: number;
  resizeMode: 'square' | 'shorter-side';
  inputSize: number;
}

/** One decoded image at the detector's input size: CHW RGB planes in [0, 1] and the same pixels for display. */
export interface PreparedImage {
  name: string;
  planes: Float32Array;
  pixels: ImageData;
}

/**
 * Decodes `file` and applies the detector's transform: resize the `resizeMode` way to `resize`, then centre-crop
 * `inputSize` (as src/data/image.ts does with its own filter, so values differ from the CLI's by interpolation).
 * Throws (createImageBitmap's error) when the browser cannot decode the file.
 */
export async function prepareImage(file: File, g: InputGeometry): Promise<PreparedImage> {
  const bitmap = await createImageBitmap(file);
  const { width: w0, height: h0 } = bitmap;
  const [w, h] = g.resizeMode === 'square' ? [g.resize, g.resize]
    : w0 <= h0 ? [g.resize, Math.floor((g.resize * h0) / w0)] : [Math.floor((g.resize * w0) / h0), g.resize];
  const side = g.inputSize;
  const canvas = new OffscreenCanvas(side, side);
  const ctx = canvas.getContext('2d')!;
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, -Math.round((w - side) / 2), -Math.round((h - side) / 2), w, h);
  bitmap.close();
  const pixels = ctx.getImageData(0, 0, side, side);
  const n = side * side;
  const planes = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) planes[c * n + i] = pixels.data[4 * i + c]! / 255;
  return { name: file.name, planes, pixels };
}

/** A blue → cyan → yellow → red ramp for t in [0, 1]. */
function ramp(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/**
 * Draws one anomaly map (`side` x `side`, row-major) onto `canvas`: values coloured over [lo, hi] (the range of
 * all maps shown, so colours compare across images) at half opacity, and the outline of the region at or above
 * `threshold` in opaque white.
 */
export function drawHeatmap(canvas: HTMLCanvasElement, map: Float32Array, side: number, lo: number, hi: number,
  threshold: number): void {
  canvas.width = side;
  canvas.height = side;
  const ctx = canvas.getContext('2d')!;
  const out = ctx.createImageData(side, side);
  const span = hi > lo ? hi - lo : 1;
  const above = (x: number, y: number) => x >= 0 && y >= 0 && x < side && y < side && map[y * side + x]! >= threshold;
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const i = y * side + x;
      const edge = above(x, y) && !(above(x - 1, y) && above(x + 1, y) && above(x, y - 1) && above(x, y + 1));
      const [r, g, b] = edge ? [255, 255, 255] : ramp((map[i]! - lo) / span);
      out.data.set([r, g, b, edge ? 255 : 128], 4 * i);
    }
  }
  ctx.putImageData(out, 0, 0);
}
