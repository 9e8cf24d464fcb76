// The `texad` command: dispatches to one module per command (src/cli/<command>.ts).
import { UsageError } from './args.ts';

export interface Command {
  summary: string;
  help: string;
  run(argv: string[]): Promise<number>;
}

const COMMANDS: Record<string, () => Promise<{ command: Command }>> = {
  bench: () => import('./bench.ts'),
  devices: () => import('./devices.ts'),
  features: () => import('./features.ts'),
  info: () => import('./info.ts'),
  merge: () => import('./merge.ts'),
  metrics: () => import('./metrics.ts'),
  run: () => import('./run.ts'),
  serve: () => import('./serve.ts'),
  synth: () => import('./synth.ts'),
  weights: () => import('./weights.ts'),
};

function usage(): string {
  return ['usage: texad <command> [options]', '', 'commands:', ...Object.keys(COMMANDS).map((c) => `  ${c}`), '',
    'texad <command> --help shows the options of one command.', '',
    'exit codes: 0 success, 1 failure (the reason is printed on stderr), 2 bad usage (unknown command or option value;',
    'the command\'s help follows the message). Dawn\'s adapter warnings are filtered out; texad devices shows the adapter.',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const load = COMMANDS[name];
  if (!load) {
    console.error(`texad: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const { command } = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`texad ${name}: ${err.message}\n\n${command.help}`);
      return 2;
    }
    console.error(`texad ${name}: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}
