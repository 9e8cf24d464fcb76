// Progress for long commands: a redrawn bar with ETA on a terminal, plain log lines otherwise (CI, pipes).

export interface ProgressSink {
  /** Reports `done` of `total` units of the current stage. */
  update(stage: string, done: number, total: number, extra?: string): void;
  /** A line that stays (stage finished, a warning). */
  log(line: string): void;
  end(): void;
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`;
}

export function progressSink(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  const tty = Boolean(stream.isTTY) && !process.env['CI'];
  let stage = '';
  let stageStart = 0;
  let lastLine = 0;
  let drawn = false;
  const clear = () => {
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    update(name, done, total, extra) {
      const now = performance.now();
      if (name !== stage) {
        stage = name;
        stageStart = now;
        lastLine = 0;
      }
      const elapsed = (now - stageStart) / 1000;
      const eta = done > 0 ? (elapsed / done) * (total - done) : NaN;
      const suffix = `${done}/${total} ${extra ?? ''} ETA ${formatSeconds(eta)}`.replace(/\s+/g, ' ');
      if (tty) {
        const width = 24;
        const filled = total > 0 ? Math.round((width * done) / total) : 0;
        clear();
        stream.write(`${name} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${suffix}`);
        drawn = true;
      } else if (done === total || now - lastLine > 10_000) {
        // Plain logs: at most one line per 10 s per stage, plus the final one.
        lastLine = now;
        stream.write(`${name}: ${suffix}\n`);
      }
    },
    log(line) {
      clear();
      stream.write(`${line}\n`);
    },
    end() {
      clear();
    },
  };
}

/** The sink of --quiet: nothing on the terminal (errors still reach stderr through the CLI's exit path). */
export const silentSink: ProgressSink = { update: () => {}, log: () => {}, end: () => {} };
