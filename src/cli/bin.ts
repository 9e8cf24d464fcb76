#!/usr/bin/env node
import { main } from './main.ts';
import { releaseAllDevices } from '../runtime/device.ts';

const code = await main(process.argv.slice(2));
await releaseAllDevices();
process.exit(code);
