// Headless evaluation under Deno, running the TypeScript sources directly (after `npm run build` has generated
// src/generated/*):
//   deno run -A tools/evaluate.ts --data synthetic --out runs/deno --preset quick
// Takes the options of `texad run` and gives the same results for a seed as the Node CLI.
import { main } from '../src/cli/main.ts';
import { releaseAllDevices } from '../src/runtime/device.ts';

const code = await main(['run', ...process.argv.slice(2)]);
await releaseAllDevices();
process.exit(code);
