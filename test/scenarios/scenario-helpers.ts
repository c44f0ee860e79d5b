/**
 * Shared by the scenario plays (S3, S4, S5): the real CLI with a config directory of its own,
 * images built with the real Docker engine, and waits on runs by trigger.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { adminCredentials, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { api } from '../helpers/management.js';
import { berthCliAsync, runLog } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';

export interface ScenarioRun {
  id: string;
  taskName: string | null;
  status: string;
  trigger: string;
  error: string | null;
  createdAt?: string;
  finishedAt?: string | null;
  outputImages: Array<{ registry?: string; repository: string; tag: string; digest: string }>;
  steps: Array<{ id: string; status: string; exitCode: number | null }>;
  imageUpdateTrigger?: { images: Array<{ registry: string; repository: string; tag: string; digest: string; previousDigest: string | null }> };
  timerTrigger?: { timerTriggerName: string; scheduleOccurrence: string };
  sourceTrigger?: { commit: string; branch: string; provider: string };
  triggerChain?: string[];
}

/** `berth ...` as a user types it, with its own BERTH_CONFIG_DIR; fails the test with the output when asked to. */
export function cliFor(configDir: string) {
  return async (args: string[], options: { expectStatus?: number | null; input?: string } = {}) => {
    const result = await berthCliAsync(configDir, args, options.input ?? '');
    const expected = options.expectStatus === undefined ? 0 : options.expectStatus;
    if (expected !== null && result.status !== expected) {
      throw new Error(`berth ${args.join(' ')} exited ${result.status} (expected ${expected}):\n${result.stdout}\n${result.stderr}`);
    }
    return result;
  };
}

/** Writes `files` (path → content) under a new temporary folder and returns it. */
export function folderWith(prefix: string, files: Record<string, string>): string {
  const dir = tempDir(prefix);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), content);
  }
  return dir;
}

/** Builds `files` as an image tagged `tag` with the classic builder, offline, and pushes it; returns the pushed digest. */
export async function buildAndPush(tag: string, files: Record<string, string>): Promise<string> {
  const context = folderWith('scenario-image', files);
  await run('docker', ['build', '--network', 'none', '-q', '-t', tag, context], { env: { DOCKER_BUILDKIT: '0' } });
  const output = await run('docker', ['push', tag]);
  const digest = /digest: (sha256:[a-f0-9]{64})/.exec(output)?.[1];
  if (!digest) throw new Error(`no digest in the push output of ${tag}:\n${output}`);
  return digest;
}

/** A file of an image (pulled fresh), read with the image's own `cat`. */
export async function fileInImage(image: string, path: string): Promise<string> {
  await run('docker', ['pull', '-q', image]);
  return run('docker', ['run', '--rm', '--network', 'none', '--entrypoint', '/bin/cat', image, path]);
}

export async function runsOf(berth: BerthProcess, task: string): Promise<ScenarioRun[]> {
  const res = await api<ScenarioRun[]>(berth.url, adminCredentials, 'GET', `/api/v1/runs?task=${encodeURIComponent(task)}&top=200`);
  return res.body.filter((r) => r.taskName === task);
}

export const finished = (r: ScenarioRun) => !['Queued', 'Running'].includes(r.status);

/** Counts a task's runs per trigger ({ Commit: 1, Manual: 2 }). */
export async function triggerCounts(berth: BerthProcess, task: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const r of await runsOf(berth, task)) counts[r.trigger] = (counts[r.trigger] ?? 0) + 1;
  return counts;
}

/**
 * Waits until `task` has `count` runs with `trigger` and all of them have ended; returns them
 * (oldest first). The failure names the runs seen and the log of the last one.
 */
export async function waitForTriggeredRuns(berth: BerthProcess, task: string, trigger: string, count: number, timeoutMs = 150_000): Promise<ScenarioRun[]> {
  let seen: ScenarioRun[] = [];
  return waitFor(
    async () => {
      seen = await runsOf(berth, task);
      const matching = seen.filter((r) => r.trigger === trigger).reverse();
      return matching.length >= count && matching.every(finished) ? matching : null;
    },
    {
      what: `${count} finished ${trigger} run(s) of ${task} on ${berth.host}`,
      timeoutMs,
      intervalMs: 300,
      detail: async () => {
        const last = seen[0];
        return `runs: ${seen.map((r) => `${r.id}:${r.trigger}:${r.status}`).join(', ') || 'none'}${last ? `\nlog of ${last.id}:\n${await runLog(berth, last.id)}` : ''}`;
      },
    },
  );
}

/** Fails with the run's log unless it succeeded. */
export async function assertSucceeded(berth: BerthProcess, r: ScenarioRun): Promise<void> {
  if (r.status !== 'Succeeded') throw new Error(`run ${r.id} (${r.trigger}) of ${r.taskName} is ${r.status}: ${r.error}\n${await runLog(berth, r.id)}`);
}

/** The digest a registry gives for repository:tag (HEAD, as admin), or null when there is none. */
export async function tagDigest(berth: BerthProcess, repository: string, tag: string): Promise<string | null> {
  const response = await fetch(`${berth.url}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Authorization: `Basic ${Buffer.from(`${adminCredentials.username}:${adminCredentials.password}`).toString('base64')}`,
      Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json',
    },
  });
  return response.status === 200 ? response.headers.get('docker-content-digest') : null;
}

export async function tagsOf(berth: BerthProcess, repository: string): Promise<string[]> {
  const res = await api<{ tags: string[] | null }>(berth.url, adminCredentials, 'GET', `/v2/${repository}/tags/list`);
  return res.status === 200 ? [...(res.body.tags ?? [])].sort() : [];
}

/** What `berth task show -o json` says about the task's base images. */
export interface ShownBase {
  registry: string;
  repository: string;
  tag: string;
  dependency: string;
  digest: string | null;
  checkedAt: string | null;
  error: string | null;
}
