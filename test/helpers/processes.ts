/**
 * Child processes of a test file: every one is tracked, stopped with an escalating kill, and
 * killed for sure when the test process ends, however it ends (tests done, an assertion failed
 * before a `stop`, the runner's timeout sent SIGTERM). A forgotten or stuck child must never keep
 * a test file alive, or outlive it.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';

/** What a start helper needs to register its own cleanup: a TestContext (`t`), or anything with `after`. */
export interface CleanupScope {
  after(fn: () => unknown): void;
}

const live = new Set<ChildProcess>();
const exits = new WeakMap<ChildProcess, Promise<number | null>>();
let hooksInstalled = false;

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

function killQuietly(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    if (isRunning(child)) child.kill(signal);
  } catch {
    // already gone
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' handlers run synchronously: SIGKILL is the only kill that needs no waiting.
  process.on('exit', () => {
    for (const child of live) killQuietly(child, 'SIGKILL');
  });
  // The test runner ends a timed-out file with SIGTERM; take the children along.
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
    process.once(signal, () => {
      for (const child of live) killQuietly(child, 'SIGKILL');
      process.exit(code);
    });
  }
}

/**
 * Tracks `child` until it exits. A long-lived child (a server, an agent) is unref'd with its
 * pipes so it never keeps this process alive on its own; helpers that wait on it hold a timer
 * meanwhile. Short-lived children the test awaits stay ref'd (`unref: false`).
 */
export function track(child: ChildProcess, options: { unref?: boolean } = {}): ChildProcess {
  installHooks();
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    // A child that failed to spawn never emits 'exit'.
    child.once('error', () => {
      if (child.pid === undefined) resolve(null);
    });
  });
  exits.set(child, exited);
  live.add(child);
  void exited.then(() => live.delete(child));
  if (options.unref) {
    child.unref();
    for (const stream of [child.stdin, child.stdout, child.stderr]) {
      (stream as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }
  return child;
}

/** `spawn` + `track`. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions & { unref?: boolean } = {}): ChildProcess {
  const { unref, ...spawnOptions } = options;
  return track(spawn(command, args, spawnOptions), { unref: unref ?? false });
}

/** Resolves with the exit code (null when killed by a signal) once `child` has exited. */
export function exitOf(child: ChildProcess): Promise<number | null> {
  const known = exits.get(child);
  if (known) return known;
  if (!isRunning(child)) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/**
 * Stops `child`: `signal` (SIGTERM by default), then SIGKILL if it has not exited within
 * `graceMs`. Resolves with its exit code (null when a signal ended it). Safe to call twice.
 */
export async function stopProcess(child: ChildProcess, options: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<number | null> {
  const exited = exitOf(child);
  if (!isRunning(child)) return exited;
  killQuietly(child, options.signal ?? 'SIGTERM');
  // These timers (ref'd) also keep the event loop alive while an unref'd child shuts down, also
  // after the SIGKILL: its exit is reported through the unref'd child handle alone.
  let keepAlive: NodeJS.Timeout | undefined;
  const escalate = setTimeout(() => {
    killQuietly(child, 'SIGKILL');
    keepAlive = setInterval(() => undefined, 1000);
  }, options.graceMs ?? 15_000);
  try {
    return await exited;
  } finally {
    clearTimeout(escalate);
    clearInterval(keepAlive);
  }
}

export interface ProcessResult {
  status: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/**
 * Runs a command to its end and collects its output, never rejecting (callers assert on
 * `status`). After `timeoutMs` it is stopped (SIGTERM, then SIGKILL), `timedOut` is set and a
 * note is appended to stderr, so a stuck command fails its test instead of hanging it.
 */
export async function runProcess(
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number } = {},
): Promise<ProcessResult> {
  const child = spawnTracked(command, args, { env: options.env, cwd: options.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin!.on('error', () => undefined);
  child.stdin!.end(options.input ?? '');
  const timeoutMs = options.timeoutMs ?? 300_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopProcess(child, { graceMs: 5_000 });
  }, timeoutMs);
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const status = await exitOf(child);
  clearTimeout(timer);
  // Output still in the pipes arrives before 'close'; a grandchild holding them must not hang us.
  await Promise.race([closed, delay(5_000)]);
  if (timedOut) stderr += `\n[${command} ${args.join(' ')} was stopped after ${timeoutMs} ms]`;
  return { status, stdout, stderr, timedOut };
}
