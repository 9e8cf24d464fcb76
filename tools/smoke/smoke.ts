// Deno entry of the smoke run, on the TypeScript sources unbuilt (src/generated/ must exist: `npm run build`):
//   node_modules/.bin/deno run -A tools/smoke/smoke.ts
// Prints the SmokeResult as one JSON line; tools/smoke/run.mjs compares it with Node's.
import * as texad from '../../src/gpu.ts';
import { runSmoke } from './core.mjs';

console.log(JSON.stringify(await runSmoke(texad)));
