import { RegistryError } from '../registry/errors.js';

export interface RunVariables {
  ID: string;
  Registry: string;
  RegistryName: string;
  Date: string;
  OS: string;
  Architecture: string;
  TaskName: string;
  Commit: string;
  Branch: string;
  /** The image whose update (or new tag) queued the run: `registry/repository:tag`; '' otherwise. */
  TriggerImage: string;
  TriggerTag: string;
}

/** The run templates are checked (and a task's bases read) with before any run exists. */
export function placeholderRun(options: { taskName?: string; registry?: string; os?: string; architecture?: string } = {}): RunVariables & { SharedVolume: string } {
  const registry = options.registry ?? 'registry';
  return {
    ID: 'cb0',
    Registry: registry,
    RegistryName: registry.split('.')[0]!.split(':')[0]!,
    Date: runDate(new Date()),
    OS: options.os ?? 'linux',
    Architecture: options.architecture ?? 'amd64',
    TaskName: options.taskName ?? '',
    Commit: '',
    Branch: '',
    TriggerImage: '',
    TriggerTag: '',
    SharedVolume: '',
  };
}

/** ACR's `.Run.Date` layout: Go `20060102-150405z`, UTC. */
export function runDate(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}z`;
}

/**
 * Renders `{{.Run.X}}` and `{{.Values.x}}` (quick builds and runs: tags, build args, commands).
 * Anything else inside `{{ }}` is an error naming what is not supported, never a silent blank.
 */
export function renderRunTemplate(text: string, run: RunVariables, values: Record<string, string> = {}): string {
  return text.replace(/\{\{\s*(.*?)\s*\}\}/g, (whole, expression: string) => {
    const runMatch = /^\.(?:Run|Build)\.(\w+)$/.exec(expression);
    if (runMatch) {
      const key = runMatch[1] as keyof RunVariables;
      if (key in run) return run[key];
      throw new RegistryError('INVALID_REQUEST', `unknown run variable "${whole}"`);
    }
    const valueMatch = /^\.Values\.(\w+)$/.exec(expression);
    if (valueMatch) {
      const value = values[valueMatch[1]!];
      if (value === undefined) throw new RegistryError('INVALID_REQUEST', `no value for "${whole}" (give it with --set ${valueMatch[1]}=...)`);
      return value;
    }
    throw new RegistryError('INVALID_REQUEST', `unsupported template expression "${whole}": quick runs support {{.Run.*}} and {{.Values.*}}`);
  });
}

/** Splits a command line as /bin/sh would for words and quotes (no expansions). */
export function shellWords(command: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: '"' | "'" | null = null;
  let inWord = false;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (quote) {
      if (c === quote) quote = null;
      else if (c === '\\' && quote === '"' && i + 1 < command.length) current += command[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < command.length) {
      current += command[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += c;
      inWord = true;
    }
  }
  if (quote) throw new RegistryError('INVALID_REQUEST', 'unterminated quote in command');
  if (inWord) words.push(current);
  return words;
}
