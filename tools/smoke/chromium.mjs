// The one place that says which Chromium texad's browser checks drive and with which flags: Debian's
// /usr/bin/chromium (tools/setup-lavapipe.sh installs it; TEXAD_CHROMIUM overrides), through playwright-core,
// which never downloads a browser.
export const CHROMIUM = process.env.TEXAD_CHROMIUM ?? '/usr/bin/chromium';

/** Headless WebGPU on a machine whose only Vulkan driver is lavapipe: Dawn's OpenGL ES backend over ANGLE/Vulkan. */
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
