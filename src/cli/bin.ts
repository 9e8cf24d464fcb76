#!/usr/bin/env node
import { runWithoutDawnWarnings } from './dawn-warnings.ts';

if (process.env['TEXAD_DAWN_WARNINGS'] === undefined) {
  process.exit(await runWithoutDawnWarnings());
}
if (process.env['TEXAD_STDERR_COLUMNS'] !== undefined) {
  Object.assign(process.stderr, { isTTY: true, columns: Number(process.env['TEXAD_STDERR_COLUMNS']) });
}
// Loaded only in the process that does the work, not in the filtering parent.
const { main } = await import('./main.ts');
const { releaseAllDevices } = await import('../runtime/device.ts');
const code = await main(process.argv.slice(2));
await releaseAllDevices();
process.exit(code);
