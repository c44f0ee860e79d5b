/**
 * What every command takes besides its own options, as `az` does: `--query` (JMESPath over the
 * JSON answer) and `-r/--registry` (which logged-in registry). Read once per invocation from the
 * command being run, so output and API calls see the same choice.
 */
export interface Invocation {
  query?: string;
  registry?: string;
}

let current: Invocation = {};

export function setInvocation(invocation: Invocation): void {
  current = invocation;
}

export function invocation(): Invocation {
  return current;
}
