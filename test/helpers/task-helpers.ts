import { adminCredentials, cliPath, repoRoot, type BerthProcess } from './berth-process.js';
import { run } from './commands.js';
import { api } from './management.js';
import { ensureBusyboxImage } from './fixtures.js';
import { basicAuth } from './oci-client.js';
import { runProcess } from './processes.js';
import { waitFor } from './wait.js';

/** Logs docker in to `berth` and pushes the busybox fixture as base/busybox:1 (what builds start FROM). */
export async function publishBaseImage(berth: BerthProcess): Promise<string> {
  const image = await ensureBusyboxImage();
  await run('docker', ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: adminCredentials.password });
  await run('docker', ['tag', image, `${berth.host}/base/busybox:1`]);
  await run('docker', ['push', `${berth.host}/base/busybox:1`]);
  return `${berth.host}/base/busybox:1`;
}

/**
 * The real CLI, asynchronously (runs stream for a while), with its own BERTH_CONFIG_DIR. A CLI
 * still running after `timeoutMs` (default 5 min: a build on a loaded machine) is stopped and
 * its result has status null, so a run that never ends fails the test instead of hanging it.
 */
export async function berthCliAsync(configDir: string, args: string[], input = '', timeoutMs = 300_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const { status, stdout, stderr } = await runProcess(process.execPath, [cliPath, ...args], { env: { ...process.env, BERTH_CONFIG_DIR: configDir }, cwd: repoRoot, input, timeoutMs });
  return { status, stdout, stderr };
}

/** Containers, networks and volumes `berth`'s agents still own (other suites share the engine). */
export async function leftovers(berth: BerthProcess): Promise<string> {
  const runs = (await api<Array<{ agent: string | null }>>(berth.url, adminCredentials, 'GET', '/api/v1/runs?top=1000')).body;
  const agents = [...new Set(runs.map((r) => r.agent).filter((a): a is string => a !== null))];
  let found = '';
  for (const agent of agents) {
    const filter = `label=berth.agent=${agent}`;
    found += await run('docker', ['ps', '-aq', '--filter', filter]);
    found += await run('docker', ['network', 'ls', '-q', '--filter', filter]);
    found += await run('docker', ['volume', 'ls', '-q', '--filter', filter]);
  }
  return found.trim();
}

/** A run record as the management API returns it (the fields the task suites look at). */
export interface RunView {
  id: string;
  status: string;
  agent: string | null;
  error: string | null;
  outputImages: Array<{ registry?: string; repository: string; tag: string; digest: string }>;
  steps: Array<{ id: string; status: string; exitCode: number | null }>;
}

export async function runRecord(berth: BerthProcess, id: string): Promise<RunView> {
  return (await api<RunView>(berth.url, adminCredentials, 'GET', `/api/v1/runs/${id}`)).body;
}

/** Polls the run until it reaches one of `statuses` (fails naming the run, the statuses and the last one seen). */
export async function waitForRun(berth: BerthProcess, id: string, statuses: string[], timeoutMs = 120_000): Promise<RunView> {
  let last = 'unknown';
  return waitFor(
    async () => {
      const record = await runRecord(berth, id);
      last = record.status;
      return statuses.includes(record.status) ? record : null;
    },
    { what: `run ${id} to be ${statuses.join(' or ')}`, timeoutMs, intervalMs: 200, detail: () => `it is still ${last}` },
  );
}

/** The run's log so far (`task logs` would follow a queued or running run until it ends). */
export async function runLog(berth: BerthProcess, id: string): Promise<string> {
  return (await fetch(`${berth.url}/api/v1/runs/${id}/logs`, { headers: { Authorization: basicAuth(adminCredentials) } })).text();
}

/**
 * Cleanup for tests that kill a server or agent mid-run: force-removes whatever containers,
 * networks and volumes agent `agent` still owns (its `sleep 300` must not outlive a failed test).
 */
export async function removeAgentLeftovers(agent: string): Promise<void> {
  const filter = `label=berth.agent=${agent}`;
  const ids = (args: string[]) => run('docker', [...args, '--filter', filter]).then((out) => out.split('\n').filter(Boolean), () => []);
  const containers = await ids(['ps', '-aq']);
  if (containers.length) await run('docker', ['rm', '-f', ...containers]).catch(() => undefined);
  const networks = await ids(['network', 'ls', '-q']);
  if (networks.length) await run('docker', ['network', 'rm', ...networks]).catch(() => undefined);
  const volumes = await ids(['volume', 'ls', '-q']);
  if (volumes.length) await run('docker', ['volume', 'rm', '-f', ...volumes]).catch(() => undefined);
}
