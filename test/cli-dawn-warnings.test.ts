// Dawn prints two "maxDynamic...BuffersPerPipelineLayout artificially reduced" lines on every adapter it opens
// on lavapipe; the CLI drops exactly those (src/cli/bin.ts) and nothing else.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { dawnWarningFilter } from '../src/cli/dawn-warnings.ts';

const BIN = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'bin.js');
const WARN_U = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';
const WARN_S = 'Warning: maxDynamicStorageBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';

function filtered(chunks: string[]): string {
  let out = '';
  const f = dawnWarningFilter((t) => (out += t));
  chunks.forEach((c) => f.push(c));
  f.end();
  return out;
}

describe('Dawn limit warnings', () => {
  it('are dropped, split across chunks or not, and other text passes unchanged and unheld', () => {
    expect(filtered([WARN_U, WARN_S, 'texad: error\n'])).toBe('texad: error\n');
    expect(filtered([WARN_U.slice(0, 30), WARN_U.slice(30) + 'a\n' + WARN_S.slice(0, 5), WARN_S.slice(5)])).toBe('a\n');
    expect(filtered(['Warning: something else\n', '\r\x1b[2K[###   ] 3/10'])).toBe('Warning: something else\n\r\x1b[2K[###   ] 3/10');
    let out = '';
    const f = dawnWarningFilter((t) => (out += t));
    f.push('progress 1/2');
    expect(out).toBe('progress 1/2'); // a progress redraw is not held back
  });

  it('do not appear in `texad devices`, which still reports the adapter', async () => {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, 'devices'], { env: process.env });
    expect(stdout).toMatch(/maxStorageBufferBindingSize/);
    expect(stderr).not.toMatch(/artificially reduced/);
  });
});
