// @ts-check
// Headless Chromium as texad's browser checks run it (tools/smoke/run.mjs, test/page.test.ts): Debian's
// /usr/bin/chromium driven by playwright-core, never a downloaded browser.

/** The browser binary; TEXAD_CHROMIUM overrides it. */
export const CHROMIUM = process.env.TEXAD_CHROMIUM ?? '/usr/bin/chromium';

/**
 * Headless WebGPU on a machine whose only Vulkan driver is lavapipe: Dawn's OpenGL ES backend over ANGLE/Vulkan,
 * which offers only a `featureLevel: 'compatibility'` adapter.
 */
export const CHROMIUM_FLAGS = [
  '--no-sandbox', // CI runs as root, where Chromium's sandbox cannot start
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--use-angle=vulkan',
  '--use-webgpu-adapter=opengles',
];
