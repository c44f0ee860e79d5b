import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { api } from '../helpers/management.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { berthCliAsync, leftovers, removeAgentLeftovers } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';

const configDir = tempDir('agent-restart-cli');
let berth: BerthProcess;
let agent: string | null = null;

after(async () => {
  await berth?.stop();
  // The run's `sleep 300` container must not outlive a failed test.
  if (agent) await removeAgentLeftovers(agent);
});

interface RunView {
  status: string;
  error: string | null;
  agent: string | null;
}

describe('a server killed mid-run', () => {
  it('on restart, the runs its agent held end as Error at once, and their containers are removed', async () => {
    await ensureBusyboxImage();
    const dataDir = tempDir('agent-restart-data');
    berth = await startBerth({ dataDir });
    assert.equal((await berthCliAsync(configDir, ['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
    const queued = await berthCliAsync(configDir, ['run', '--cmd', 'berth-fixture/busybox:1 sleep 300', '--no-wait', '/dev/null']);
    const id = /(cb\d+)/.exec(queued.stdout)![1]!;
    const record = async () => (await api<RunView>(berth.url, adminCredentials, 'GET', `/api/v1/runs/${id}`)).body;
    await waitFor(
      async () => {
        agent = (await record()).agent;
        return agent && (await run('docker', ['ps', '-q', '--filter', `label=berth.agent=${agent}`])).trim();
      },
      { what: `run ${id} to start its container`, timeoutMs: 120_000, intervalMs: 250 },
    );
    await berth.stop('SIGKILL');
    assert.notEqual((await run('docker', ['ps', '-q', '--filter', `label=berth.agent=${agent}`])).trim(), '', 'the container outlived the server');

    const restartedAt = Date.now();
    berth = await startBerth({ dataDir });
    const ended = await record();
    assert.equal(ended.status, 'Error');
    assert.match(ended.error ?? '', /restarted while running this run/);
    assert.ok(Date.now() - restartedAt < 15_000, 'well before the 30 s lease would have run out');
    assert.equal(await leftovers(berth), '');
    assert.match(berth.stdout(), /runs this agent held before it restarted were marked Error/);
  });
});
