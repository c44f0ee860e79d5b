import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { adminPassword, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient } from '../helpers/oci-client.js';
import { run } from '../helpers/commands.js';
import { buildUniqueImage } from '../helpers/fixtures.js';

let berth: BerthProcess;

// This file's own docker client config, so its login does not touch anyone else's.
process.env.DOCKER_CONFIG = join(tempDir('docker-config'), 'docker');

before(async () => {
  berth = await startBerth();
  const login = await run('docker', ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: adminPassword });
  assert.match(login, /Login Succeeded/);
});
after(async () => {
  await berth?.stop();
});

describe('the real Docker engine', () => {
  it('pushes a multi-layer image, pulls it back after removing it locally, and runs it', async () => {
    const local = `berth-test/docker-e2e:${randomUUID().slice(0, 8)}`;
    const { marker } = await buildUniqueImage(local);
    const remote = `${berth.host}/team/app:1`;
    await run('docker', ['tag', local, remote]);
    const pushOutput = await run('docker', ['push', remote]);
    const pushed = /digest: (sha256:[a-f0-9]{64})/.exec(pushOutput)?.[1];
    assert.ok(pushed, pushOutput);

    const client = new OciClient(berth.url);
    const manifest = await client.request('GET', '/v2/team/app/manifests/1', {
      headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(manifest.headers.get('docker-content-digest'), pushed);
    const body = (await manifest.json()) as { layers: unknown[] };
    assert.equal(body.layers.length, 3);

    await run('docker', ['rmi', local, remote]);
    const pullOutput = await run('docker', ['pull', remote]);
    assert.match(pullOutput, /Pull complete/);
    assert.match(pullOutput, new RegExp(pushed!));
    const output = await run('docker', ['run', '--rm', '--network', 'none', remote]);
    assert.equal(output.trim(), `hello from layer two ${marker}`);
    await run('docker', ['rmi', remote]);
  });

  it('a second repository push mounts layers the registry already holds', async () => {
    const local = `berth-test/docker-mount:${randomUUID().slice(0, 8)}`;
    await buildUniqueImage(local);
    await run('docker', ['tag', local, `${berth.host}/mount/one:1`]);
    await run('docker', ['tag', local, `${berth.host}/mount/two:1`]);
    await run('docker', ['push', `${berth.host}/mount/one:1`]);
    const second = await run('docker', ['push', `${berth.host}/mount/two:1`]);
    assert.match(second, /Mounted from mount\/one/);
    await run('docker', ['rmi', local, `${berth.host}/mount/one:1`, `${berth.host}/mount/two:1`]);
  });
});
