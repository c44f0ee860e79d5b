import type { ChildProcess } from 'node:child_process';
import { cliPath, type BerthProcess } from './berth-process.js';
import { spawnTracked, stopProcess, type CleanupScope } from './processes.js';

export interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * `berth agent --server URL` as its own process, as it runs on another machine; resolves once it
 * serves. With `t` it is stopped after the test however the test ends (stop() before that is fine too).
 */
export async function startAgentProcess(options: { server: BerthProcess; key: string; name: string; t: CleanupScope; extraArgs?: string[] }): Promise<AgentProcess> {
  const { server, key, name, t } = options;
  const child = spawnTracked(process.execPath, [cliPath, 'agent', '--server', server.url, '--name', name, '--concurrency', '1', ...(options.extraArgs ?? [])], {
    env: { ...process.env, BERTH_AGENT_KEY: key },
    stdio: ['ignore', 'ignore', 'pipe'],
    unref: true,
  });
  let output = '';
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    await stopProcess(child, { signal });
  };
  t.after(() => stop());
  let deadline: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        output += d.toString();
        if (output.includes('executing runs for')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`agent exited with ${code}: ${output}`)));
      deadline = setTimeout(() => reject(new Error(`agent ${name} did not start serving within 60 s: ${output}`)), 60_000);
    });
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  } finally {
    clearTimeout(deadline);
  }
  return { child, output: () => output, stop };
}
