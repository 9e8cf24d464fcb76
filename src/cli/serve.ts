// `texad serve`: the browser page (src/page/, built into dist/src/page/) and the modules it imports, from 127.0.0.1.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from './main.ts';
import { boolFlag, numberFlag, parseArgs, UsageError } from './args.ts';

const DEFAULT_PORT = 8080;
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.css': 'text/css', '.js': 'text/javascript', '.map': 'application/json',
};

/** Serves the files under `root` (GET/HEAD only, nothing outside it); `/` is the page. */
export function pageServer(root: string): Server {
  return createServer((req, res) => {
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const file = normalize(join(root, path === '/' ? 'page/index.html' : path));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end(`texad serve: no ${path}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    }).end(req.method === 'HEAD' ? undefined : readFileSync(file));
  });
}

/** Opens `url` in the desktop's browser; says so on stderr when that is impossible (no desktop, no opener). */
function openBrowser(url: string): void {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]]
    : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
  child.on('error', (err) => console.error(`texad serve: --open could not start ${cmd} (${err.message}); open ${url} yourself`));
  child.unref();
}

export const command: Command = {
  summary: 'serve the browser page (fit, score, heatmaps, save/load detectors) on 127.0.0.1',
  help: `usage: texad serve [--port N] [--open]

Serves the browser page on http://127.0.0.1:N/ (only this machine can reach it) until Ctrl-C. The page runs
texad/gpu in the browser on WebGPU: choose a method and preset, drop good images, fit with a progress bar, drop
test images to see their scores and heatmaps with a threshold slider, download the trained detector as
.safetensors and load one back. Everything runs in the browser; the server only hands out files from dist/
(npm run build makes them). Without weights files the networks get seeded random weights (labelled on the page).
The browser needs WebGPU (the page names what to enable when it has none).
  --port N   port to listen on (default ${DEFAULT_PORT}; 0 picks a free one, printed)
  --open     also open the page in the desktop's default browser`,
  async run(argv) {
    const args = parseArgs(argv);
    const port = numberFlag(args, 'port', DEFAULT_PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port expects 0..65535, got ${port}`);
    // This file is dist/src/cli/serve.js: dist/src/ holds the page and texad/gpu.
    const root = fileURLToPath(new URL('..', import.meta.url)).replace(/[\\/]$/, '');
    if (!existsSync(join(root, 'page', 'app.js')) || !existsSync(join(root, 'page', 'index.html'))) {
      throw new Error(`the page is not built in ${join(root, 'page')}: run \`npm run build\` (tsc compiles src/page/, ` +
        'tools/embed.mjs copies its HTML and CSS)');
    }
    const server = pageServer(root);
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE'
        ? new Error(`port ${port} on 127.0.0.1 is in use; choose another with --port N (0 picks a free one)`) : err));
      server.listen(port, '127.0.0.1', resolve);
    });
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
    console.log(`texad serve: ${url} (Ctrl-C stops)`);
    if (boolFlag(args, 'open')) openBrowser(url);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    server.closeAllConnections();
    server.close();
    return 0;
  },
};
