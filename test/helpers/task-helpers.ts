import { spawn } from 'node:child_process';
import { adminCredentials, cliPath, repoRoot, type BerthProcess } from './berth-process.js';
import { run } from './commands.js';
import { api } from './management.js';
import { ensureBusyboxImage } from './fixtures.js';
import { basicAuth } from './oci-client.js';

/** Logs docker in to `berth` and pushes the busybox fixture as base/busybox:1 (what builds start FROM). */
export async function publishBaseImage(berth: BerthProcess): Promise<string> {
  const image = await ensureBusyboxImage();
  await run('docker', ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: adminCredentials.password });
  await run('docker', ['tag', image, `${berth.host}/base/busybox:1`]);
  await run('docker', ['push', `${berth.host}/base/busybox:1`]);
  return `${berth.host}/base/busybox:1`;
}

/** The real CLI, asynchronously (runs stream for a while), with its own BERTH_CONFIG_DIR. */
export function berthCliAsync(configDir: string, args: string[], input = ''): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, ...args], { env: { ...process.env, BERTH_CONFIG_DIR: configDir }, cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(input);
  });
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

/** Polls the run until it reaches one of `statuses`. */
export async function waitForRun(berth: BerthProcess, id: string, statuses: string[], timeoutMs = 60_000): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const record = await runRecord(berth, id);
    if (statuses.includes(record.status)) return record;
    if (Date.now() > deadline) throw new Error(`run ${id} is still ${record.status}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The run's log so far (`task logs` would follow a queued or running run until it ends). */
export async function runLog(berth: BerthProcess, id: string): Promise<string> {
  return (await fetch(`${berth.url}/api/v1/runs/${id}/logs`, { headers: { Authorization: basicAuth(adminCredentials) } })).text();
}
