import type { Command } from './main.ts';
import { parseArgs, boolFlag } from './args.ts';
import { acquireGpu } from '../runtime/device.ts';

export const command: Command = {
  summary: 'show the WebGPU adapter texad would use',
  help: `usage: texad devices [--json] [--compat]

Requests a WebGPU adapter and device and prints what was found.
  --json     print the adapter report and limits as JSON
  --compat   request a 'compatibility' feature-level adapter`,
  async run(argv) {
    const args = parseArgs(argv);
    const gpu = await acquireGpu(boolFlag(args, 'compat') ? { featureLevel: 'compatibility' } : {});
    try {
      const limits = {
        maxStorageBufferBindingSize: gpu.limits.maxStorageBufferBindingSize,
        maxBufferSize: gpu.limits.maxBufferSize,
        maxComputeWorkgroupStorageSize: gpu.limits.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: gpu.limits.maxComputeInvocationsPerWorkgroup,
        maxComputeWorkgroupsPerDimension: gpu.limits.maxComputeWorkgroupsPerDimension,
      };
      if (boolFlag(args, 'json')) {
        console.log(JSON.stringify({ adapter: gpu.adapter, limits, features: [...gpu.features] }, null, 2));
      } else {
        console.log(gpu.describe());
        for (const [k, v] of Object.entries(limits)) console.log(`  ${k}: ${v}`);
        console.log(`  features: ${[...gpu.features].join(', ') || '(none)'}`);
      }
    } finally {
      await gpu.release();
    }
    return 0;
  },
};
