import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { track } from './processes.js';

const execFileAsync = promisify(execFile);

/**
 * Runs a real client binary; rejects with its output when it fails. After `timeoutMs` (5 min by
 * default: a docker push or build on a loaded machine) it is SIGKILLed and the call rejects, so
 * a stuck client fails its test instead of hanging it.
 */
export async function run(command: string, args: string[], options: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const child = execFileAsync(command, args, {
      timeout: options.timeoutMs ?? 300_000,
      killSignal: 'SIGKILL',
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, ...options.env },
    });
    track(child.child);
    if (options.input !== undefined) {
      child.child.stdin?.end(options.input);
    }
    const { stdout } = await child;
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}
