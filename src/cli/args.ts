/** Minimal `--flag value` / `--switch` parser shared by every CLI command. */
export interface ParsedArgs {
  positional: string[];
  flags: Map<string, string | true>;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) flags.set(a.slice(2), argv[++i]!);
      else flags.set(a.slice(2), true);
    } else positional.push(a);
  }
  return { positional, flags };
}

/** Thrown for bad command-line input; the CLI prints the message and the command's help, exit code 2. */
export class UsageError extends Error {}

export function stringFlag(args: ParsedArgs, name: string, fallback?: string): string {
  const v = args.flags.get(name);
  if (v === undefined || v === true) {
    if (fallback !== undefined) return fallback;
    throw new UsageError(`missing --${name} VALUE`);
  }
  return v;
}

export function numberFlag(args: ParsedArgs, name: string, fallback?: number): number {
  const v = args.flags.get(name);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new UsageError(`missing --${name} NUMBER`);
  }
  const n = v === true ? NaN : Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got ${String(v)}`);
  return n;
}

export function boolFlag(args: ParsedArgs, name: string): boolean {
  return args.flags.get(name) !== undefined;
}
