// Filters two Dawn start-up warnings out of the CLI's stderr (see runWithoutDawnWarnings).
import { spawn } from 'node:child_process';

/**
 * Dawn writes "Warning: maxDynamic{Uniform,Storage}BuffersPerPipelineLayout artificially reduced from 1000000 to
 * 16 ..." straight to file descriptor 2 (native code: no JS hook sees it) whenever it opens a Vulkan adapter
 * whose driver reports unlimited dynamic buffers, as lavapipe does. texad binds no dynamic offsets, and asking
 * for lower limits cannot help: the lines come from requestAdapter, before any device limits are requested. So
 * the CLI runs itself as a child with stderr piped and drops exactly those lines; all other output passes
 * through unchanged. TEXAD_DAWN_WARNINGS=1 shows them (and skips the extra process).
 */
const DAWN_LIMIT_WARNING = /^Warning: maxDynamic(?:Uniform|Storage)BuffersPerPipelineLayout artificially reduced from \d+ to \d+ to fit dynamic offset allocation limit\.\r?\n/gm;
const WARNING_START = 'Warning: maxDynamic';

/** Passes `chunk` on without the Dawn lines; holds back only a trailing partial line that could be one. */
export function dawnWarningFilter(write: (text: string) => void): { push(chunk: string): void; end(): void } {
  let pending = '';
  return {
    push(chunk) {
      const text = pending + chunk;
      const cut = text.lastIndexOf('\n') + 1;
      const tail = text.slice(cut);
      const couldBeWarning = tail.startsWith(WARNING_START) || WARNING_START.startsWith(tail);
      pending = couldBeWarning ? tail : '';
      const out = text.slice(0, cut).replace(DAWN_LIMIT_WARNING, '') + (couldBeWarning ? '' : tail);
      if (out) write(out);
    },
    end() {
      if (pending) write(pending);
      pending = '';
    },
  };
}

/** Reruns this command as a child whose stderr goes through dawnWarningFilter; resolves to its exit code. */
export async function runWithoutDawnWarnings(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    env: {
      ...process.env,
      TEXAD_DAWN_WARNINGS: 'filtered',
      // Progress bars check stderr.isTTY; the child's stderr is our pipe, so tell it what ours is.
      ...(process.stderr.isTTY ? { TEXAD_STDERR_COLUMNS: String(process.stderr.columns ?? 80) } : {}),
    },
  });
  const filter = dawnWarningFilter((text) => process.stderr.write(text));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => filter.push(chunk));
  // Ctrl-C reaches the whole process group (the child handles it); a signal sent to this pid alone is passed on.
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  process.on('SIGINT', () => {});
  process.on('SIGTERM', forward);
  process.on('SIGHUP', forward);
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      filter.end();
      resolve(code ?? (signal === 'SIGINT' ? 130 : 1));
    });
  });
}
