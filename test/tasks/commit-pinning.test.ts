import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { RunAgent } from '../../src/tasks/agents/run-agent.js';
import type { AgentBackend, ClaimedRun, RunOutcome } from '../../src/tasks/agents/agent-backend.js';
import { DockerTaskRunner } from '../../src/tasks/docker/docker-runner.js';
import { fetchSource, parseSourceLocation } from '../../src/tasks/sources/remote-source.js';
import type { RunRecord, RunSpec } from '../../src/tasks/run-store.js';
import { EgressPolicy } from '../../src/network/egress.js';
import { tempDir } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { createRepository, startGitServer, type GitServer } from '../helpers/git-server.js';
import { waitFor } from '../helpers/wait.js';

let git: GitServer;
let first: string;
let second: string;
let image: string;

/**
 * The server side of the agent seam, in memory: it hands out the runs given to it and keeps what
 * the agent reports. The agent, its git checkout and the engine are the real ones.
 */
class MemoryBackend implements AgentBackend {
  readonly outcomes = new Map<string, RunOutcome>();
  readonly logs = new Map<string, string>();
  private readonly queue: RunRecord[] = [];

  submit(id: string, spec: RunSpec): void {
    const now = new Date().toISOString();
    this.queue.push({
      id, seq: this.queue.length + 1, taskName: 'pinned', runType: 'AutoRun', trigger: 'Commit', status: 'Running', platform: 'linux/amd64', spec,
      timeoutSeconds: 300, requestedBy: 'test', agent: null, leaseUntil: null, cancelRequested: false, createdAt: now, startedAt: null, finishedAt: null,
      outputImages: [], steps: [], error: null,
    });
  }

  registry() {
    return { host: '127.0.0.1:9', scheme: 'http' as const };
  }
  async started() {
    return [];
  }
  async claim(): Promise<ClaimedRun | null> {
    const next = this.queue.shift();
    return next ? { run: next, secrets: {}, gitAccessToken: null, imageAliases: {} } : null;
  }
  async heartbeat() {
    return { held: true, cancelRequested: false };
  }
  async progress() {}
  async appendLog(runId: string, _agent: string, text: string) {
    this.logs.set(runId, (this.logs.get(runId) ?? '') + text);
  }
  async openContext(): Promise<Readable> {
    throw new Error('these runs have git contexts');
  }
  async issueLogin() {
    return null;
  }
  async secret(): Promise<string> {
    throw new Error('no secrets here');
  }
  async taskLogins() {
    return [];
  }
  async finish(runId: string, _agent: string, outcome: RunOutcome) {
    this.outcomes.set(runId, outcome);
  }
}

before(async () => {
  image = await ensureBusyboxImage();
  git = await startGitServer('unused-token');
  first = (await createRepository(git, 'pinned', 'main', { 'message.txt': 'first commit\n' })).commit;
  // A second commit pushed on top, so the branch head is no longer the commit the run asks for.
  const work = tempDir('pinned-work');
  await run('git', ['clone', '--quiet', join(git.root, 'pinned.git'), work]);
  writeFileSync(join(work, 'message.txt'), 'second commit\n');
  const gitIn = (args: string[]) => run('git', ['-C', work, '-c', 'user.name=Berth Tests', '-c', 'user.email=tests@berth.invalid', ...args]);
  await gitIn(['commit', '--quiet', '-am', 'second']);
  await gitIn(['push', '--quiet', 'origin', 'main']);
  second = (await gitIn(['rev-parse', 'HEAD'])).trim();
  assert.notEqual(first, second);
});
after(() => git?.close());

describe('commit pinning', () => {
  it('a run with spec.commit checks out exactly that commit; {{.Run.Commit}} / {{.Run.Branch}} are the pinned ones', async () => {
    const backend = new MemoryBackend();
    const agent = new RunAgent(backend, new DockerTaskRunner(), { info: () => undefined, warn: () => undefined, error: () => undefined }, 1, 'pinning-agent', [], new EgressPolicy());
    const command = `${image} sh -c "echo commit=[{{.Run.Commit}}] branch=[{{.Run.Branch}}]; cat message.txt"`;
    const contextUrl = `${git.url}/git/pinned.git#main`;
    backend.submit('cb1', { kind: 'cmd', command, contextId: null, contextUrl, commit: first, branch: 'main' });
    backend.submit('cb2', { kind: 'cmd', command, contextId: null, contextUrl, commit: first.slice(0, 10), branch: 'refs/heads/main' });
    backend.submit('cb3', { kind: 'cmd', command, contextId: null, contextUrl, commit: 'f'.repeat(40), branch: 'main' });
    backend.submit('cb4', { kind: 'cmd', command, contextId: null, contextUrl });
    await agent.start();
    try {
      await waitFor(() => backend.outcomes.size === 4, { what: 'the four runs to end', timeoutMs: 180_000, detail: () => JSON.stringify([...backend.logs]) });
    } finally {
      await agent.stop();
    }
    const log = (id: string) => backend.logs.get(id) ?? '';
    assert.equal(backend.outcomes.get('cb1')!.status, 'Succeeded', log('cb1'));
    assert.match(log('cb1'), new RegExp(`commit=\\[${first}\\] branch=\\[main\\]`));
    assert.match(log('cb1'), /first commit/);
    assert.doesNotMatch(log('cb1'), /second commit/);
    // A short id is found in the branch's history; .Run.Commit is then the full id, .Run.Branch the name.
    assert.equal(backend.outcomes.get('cb2')!.status, 'Succeeded', log('cb2'));
    assert.match(log('cb2'), new RegExp(`commit=\\[${first}\\] branch=\\[main\\]`));
    assert.match(log('cb2'), /first commit/);
    assert.equal(backend.outcomes.get('cb3')!.status, 'Failed');
    assert.match(backend.outcomes.get('cb3')!.error ?? '', new RegExp(`commit ${'f'.repeat(40)} is not in ${git.url}/git/pinned.git \\(branch main\\)`));
    // Without a pin the branch head, as before.
    assert.equal(backend.outcomes.get('cb4')!.status, 'Succeeded', log('cb4'));
    assert.match(log('cb4'), new RegExp(`commit=\\[${second}\\] branch=\\[main\\]`));
    assert.match(log('cb4'), /second commit/);
  });

  it('fetchSource pins without a branch too, and refuses a pin on a tarball', async () => {
    const source = await fetchSource(parseSourceLocation(`${git.url}/git/pinned.git`), null, AbortSignal.timeout(60_000), () => undefined, new EgressPolicy(), { commit: first });
    try {
      assert.equal(source.commit, first);
      assert.equal(await source.readFile('message.txt'), 'first commit\n');
    } finally {
      await source.dispose();
    }
    await assert.rejects(
      fetchSource(parseSourceLocation(`${git.url}/files/context.tar.gz`), null, AbortSignal.timeout(60_000), () => undefined, new EgressPolicy(), { commit: first }),
      /a commit can only be checked out of a git context/,
    );
  });
});
