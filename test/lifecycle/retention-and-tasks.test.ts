import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { buildUniqueImage } from '../helpers/fixtures.js';
import { mediaTypes, OciClient } from '../helpers/oci-client.js';
import { berthCliAsync } from '../helpers/task-helpers.js';
import { waitFor } from '../helpers/wait.js';
import { manifestStatus, tagsOf } from './lifecycle-helpers.js';

let berth: BerthProcess;
let client: OciClient;
const configDir = tempDir('lifecycle-cli');

async function cli(args: string[]): Promise<string> {
  const result = await berthCliAsync(configDir, args);
  assert.equal(result.status, 0, `berth ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** Seed 000's image: re-pushing `latest` leaves the previous manifest untagged. */
async function pushLatestTwice(repository: string): Promise<{ first: string; second: string }> {
  const digests: string[] = [];
  for (let i = 0; i < 2; i++) {
    await buildUniqueImage(`${berth.host}/${repository}:latest`);
    await run('docker', ['push', `${berth.host}/${repository}:latest`]);
    digests.push((await run('docker', ['inspect', '--format', '{{index .RepoDigests 0}}', `${berth.host}/${repository}:latest`])).trim().split('@')[1]!);
  }
  return { first: digests[0]!, second: digests[1]! };
}

before(async () => {
  // No grace period: `gc run` below removes the purged image's layers at once (nothing pushes then).
  berth = await startBerth({ env: { BERTH_GC_GRACE_SECONDS: '0' } });
  client = new OciClient(berth.url);
  await run('docker', ['login', berth.host, '-u', adminCredentials.username, '--password-stdin'], { input: adminCredentials.password });
  await cli(['login', berth.url, '-u', adminCredentials.username, '-p', adminCredentials.password]);
});

after(async () => {
  await berth?.stop();
});

describe('seed 000: clean-up of untagged manifests left by re-pushing latest', () => {
  it('berth run --cmd "acr purge --filter \'YourApp:.*\' --untagged --ago 0d" /dev/null purges, with the run\'s own rights', async () => {
    const { first, second } = await pushLatestTwice('yourapp');
    await client.pushImage('other', 'v1');
    const out = await cli(['run', '--cmd', "acr purge --filter 'YourApp:.*' --untagged --ago 0d", '/dev/null']);
    assert.match(out, /Number of deleted tags: 1\nNumber of deleted manifests: 2/);
    assert.deepEqual(await tagsOf(client, 'yourapp'), []);
    assert.equal(await manifestStatus(client, 'yourapp', first), 404);
    assert.equal(await manifestStatus(client, 'yourapp', second), 404);
    // The run's token could delete only where its purge filter pointed.
    assert.deepEqual(await tagsOf(client, 'other'), ['v1']);
  });

  it('a run cannot purge outside what its own filters name', async () => {
    await client.pushImage('sneaky', 'v1');
    // The filter names nothing that exists when the run starts, so its token has no delete rights at all.
    const result = await berthCliAsync(configDir, ['run', '--cmd', "acr purge --filter 'nothing-here:.*' --ago 0d", '/dev/null']);
    assert.equal(result.status, 0, result.stderr);
    assert.deepEqual(await tagsOf(client, 'sneaky'), ['v1']);
  });

  it('the scheduled purge task from the seed is created as written and purges when run', async () => {
    const { second } = await pushLatestTwice('scheduled');
    await cli(['task', 'create', '--name', 'purgeTask', '--cmd', "acr purge --filter 'scheduled:.*' --untagged --ago 0d", '--schedule', '0 * * * *', '--context', '/dev/null']);
    const out = await cli(['task', 'run', '--name', 'purgeTask']);
    assert.match(out, /Number of deleted tags: 1\nNumber of deleted manifests: 2/);
    assert.equal(await manifestStatus(client, 'scheduled', second), 404);
  });

  it('retention --days 0 removes the untagged manifest right away, OCI and Docker alike, and keeps what is tagged', async () => {
    const { first, second } = await pushLatestTwice('retained');
    // An OCI image re-pushed too (ACR's retention skips OCI media types).
    const ociOld = await client.pushImage('retained-oci', 'latest');
    const ociNew = await client.pushImage('retained-oci', 'latest', { platform: { os: 'linux', architecture: 'arm64' } });
    const signature = await client.pushSignature('retained-oci', ociNew);
    const shown = await cli(['config', 'retention', 'update', '--status', 'enabled', '--days', '0', '--type', 'UntaggedManifests', '-o', 'json']);
    assert.deepEqual(JSON.parse(shown), { status: 'enabled', days: 0, type: 'UntaggedManifests' });
    await waitFor(async () => (await manifestStatus(client, 'retained', first)) === 404 && (await manifestStatus(client, 'retained-oci', ociOld.digest)) === 404, {
      what: 'retention to delete the untagged manifests',
    });
    assert.equal(await manifestStatus(client, 'retained', second), 200);
    assert.equal(await manifestStatus(client, 'retained-oci', ociNew.digest), 200);
    // The signature of the kept image is untagged, but its subject stays, so it stays.
    assert.equal(await manifestStatus(client, 'retained-oci', signature.digest), 200);
    const table = await cli(['config', 'retention', 'show']);
    assert.match(table, /enabled\s+0\s+UntaggedManifests/);
    await cli(['config', 'retention', 'update', '--status', 'disabled', '--days', '7']);
  });

  it('after purge and GC, what is kept still pulls with docker and copies with skopeo --all', async () => {
    await buildUniqueImage(`${berth.host}/pulled:keep`);
    await run('docker', ['push', `${berth.host}/pulled:keep`]);
    await buildUniqueImage(`${berth.host}/pulled:drop`);
    await run('docker', ['push', `${berth.host}/pulled:drop`]);
    const amd = await client.pushImage('pulled-index', 'amd');
    const arm = await client.pushImage('pulled-index', 'arm', { platform: { os: 'linux', architecture: 'arm64' } });
    await client.pushManifest('pulled-index', 'multi', {
      schemaVersion: 2,
      mediaType: mediaTypes.ociIndex,
      manifests: [
        { mediaType: mediaTypes.ociManifest, digest: amd.digest, size: amd.size, platform: { os: 'linux', architecture: 'amd64' } },
        { mediaType: mediaTypes.ociManifest, digest: arm.digest, size: arm.size, platform: { os: 'linux', architecture: 'arm64' } },
      ],
    });
    await cli(['purge', '--filter', 'pulled:^drop$', '--filter', 'pulled-index:^(amd|arm)$', '--ago', '0d', '--untagged']);
    const gc = JSON.parse(await cli(['gc', 'run', '-o', 'json'])) as { blobsDeleted: number; bytesFreed: number };
    assert.ok(gc.blobsDeleted >= 3 && gc.bytesFreed > 256 * 1024, JSON.stringify(gc));
    await run('docker', ['rmi', `${berth.host}/pulled:keep`, `${berth.host}/pulled:drop`]);
    await run('docker', ['pull', `${berth.host}/pulled:keep`]);
    const target = tempDir('skopeo-copy');
    await run('skopeo', ['copy', '--all', '--src-tls-verify=false', '--src-creds', `${adminCredentials.username}:${adminCredentials.password}`, `docker://${berth.host}/pulled-index:multi`, `oci:${target}:multi`]);
    await run('docker', ['rmi', `${berth.host}/pulled:keep`]);
  });
});
