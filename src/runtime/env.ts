// Environment variables in Node and Deno (browsers have none), for the runtime's switches and paths.

/** The variable's value, or undefined where it is unset or unreadable (browsers; Deno without --allow-env). */
export function env(name: string): string | undefined {
  const g = globalThis as {
    process?: { env?: Record<string, string | undefined> };
    Deno?: { env: { get(k: string): string | undefined } };
  };
  try {
    return g.process?.env?.[name] ?? g.Deno?.env.get(name);
  } catch {
    return undefined; // Deno without --allow-env
  }
}

/** A switch: true for 1/on/true, false for 0/off/false (any case), undefined when unset or anything else. */
export function envSwitch(name: string): boolean | undefined {
  const value = env(name)?.toLowerCase();
  if (value === '1' || value === 'on' || value === 'true') return true;
  if (value === '0' || value === 'off' || value === 'false') return false;
  return undefined;
}
