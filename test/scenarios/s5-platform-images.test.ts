import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { Receiver } from '../helpers/receiver.js';
import { waitFor } from '../helpers/wait.js';
import { assertSucceeded, buildAndPush, cliFor, fileInImage, folderWith, runsOf, tagDigest, tagsOf, triggerCounts, waitForTriggeredRuns, type ShownBase } from './scenario-helpers.js';

/**
 * Scenario S5 (seed 004, "keep your platform images up to date"), played for real: a second
 * Berth stands in for mcr.microsoft.com (anonymous pulls, as MCR) with dotnet/runtime:6.0-bullseye-slim
 * (a busybox stand-in); the platform Berth (the seed's ECR) has a task made of the seed's pipeline
 * steps. The seed's scheduled pipeline ("0 6 * * 1") polls MCR for a new digest and stops when
 * there is none: in Berth the base-image trigger's upstream poll is that check (every
 * BERTH_BASE_POLL_SECONDS, 1 s here), and the task keeps the seed's cron as its timer. A change
 * rebuilds the platform image, builds the integration-test app FROM it (the seed overrides the
 * app's FROM; here a build arg does), starts it and wants HTTP 200 from it, and only then pushes
 * the platform image with the next 6.0-bullseye-slim-X.Y.Z tag and the extra tags (6.0 and the
 * build number, {{.Run.ID}}), and posts to the Teams webhook (a real receiver; its URL a secret).
 * force_update is `berth task run`: no check, straight to a new version.
 */
process.env.DOCKER_CONFIG = join(tempDir('s5-docker'), 'docker');
const cli = cliFor(tempDir('s5-cli'));
const teams = new Receiver();
let mcr: BerthProcess;
let ecr: BerthProcess;
const prefix = '6.0-bullseye-slim';

const taskFile = `version: v1.1.0
secrets:
  - id: teams_webhook_uri
    keyvault: https://platform-vault.vault.azure.net/secrets/teams-webhook-uri
steps:
  - id: build-platform-image
    build: -t {{.Run.Registry}}/runtime:{{.Run.ID}} -t {{.Run.Registry}}/runtime:6.0 platform-images/net6/runtime
  - id: build-integration-test
    when: [build-platform-image]
    build: -t itest-app:{{.Run.ID}} --build-arg PLATFORM_IMAGE={{.Run.Registry}}/runtime:{{.Run.ID}} shared/integration-tests/net6
  - id: itest-app
    when: [build-integration-test]
    cmd: itest-app:{{.Run.ID}}
    detach: true
  - id: integration-test
    when: [itest-app]
    cmd: '{{.Run.Registry}}/runtime:{{.Run.ID}} wget -q -S -O /dev/null http://itest-app:8080/health'
    retries: 15
    retryDelay: 1
  - id: push-platform-image
    when: [integration-test]
    push: ["{{.Run.Registry}}/runtime:{{.Run.ID}}", "{{.Run.Registry}}/runtime:6.0"]
  - id: version-tag
    when: [push-platform-image]
    cmd: berth repository tag-next-version --repository runtime --source {{.Run.ID}} --prefix ${prefix}
  - id: notify
    when: [version-tag]
    cmd: berth notify --uri {{.Secrets.teams_webhook_uri}} --format teams --title "Platform image runtime:${prefix} updated" --text "run {{.Run.ID}} passed its integration test and was pushed"
`;

/** Publishes the upstream runtime image, version `version`. */
async function publishRuntime(version: string): Promise<string> {
  const busybox = await ensureBusyboxImage();
  return buildAndPush(`${mcr.host}/dotnet/runtime:${prefix}`, { Dockerfile: `FROM ${busybox}\nRUN /bin/busybox --install -s /bin && echo ${version} > /runtime-version\n` });
}

async function shownBase(): Promise<ShownBase> {
  const shown = JSON.parse((await cli(['task', 'show', '-r', 'ecr', '-n', 'runtime-platform', '-o', 'json'])).stdout) as { baseImages: ShownBase[] };
  const base = shown.baseImages.find((b) => b.registry === mcr.host);
  assert.ok(base, JSON.stringify(shown.baseImages));
  return base;
}

/** Waits until the upstream poll has looked again after `since`; returns how the base is shown. */
async function polledAfter(since: number): Promise<ShownBase> {
  return waitFor(async () => {
    const base = await shownBase();
    return base.checkedAt && Date.parse(base.checkedAt) > since && !base.error ? base : null;
  }, { what: 'an upstream poll of dotnet/runtime', timeoutMs: 30_000, intervalMs: 300 });
}

const versionTags = async () => (await tagsOf(ecr, 'runtime')).filter((t) => t.startsWith(`${prefix}-`));

before(async () => {
  await teams.start();
  [mcr, ecr] = await Promise.all([startBerth(), startBerth({ env: { BERTH_BASE_POLL_SECONDS: '1' } })]);
  for (const server of [mcr, ecr]) await run('docker', ['login', server.host, '-u', 'admin', '--password-stdin'], { input: adminCredentials.password });
  await cli(['login', mcr.url, '-n', 'mcr', '-u', 'admin', '-p', adminCredentials.password]);
  await cli(['config', 'anonymous-pull', '--enabled', 'true', '-r', 'mcr']);
  await publishRuntime('6.0.1');
  await cli(['login', ecr.url, '-n', 'ecr', '-u', 'admin', '-p', adminCredentials.password]);
});

after(async () => {
  await Promise.all([mcr?.stop(), ecr?.stop(), teams.stop()]);
});

/** The checks every rebuild must pass: the tags, the image's content, the Teams message. */
async function assertRebuilt(id: string, version: string, runtimeVersion: string, messages: number): Promise<void> {
  const digest = await tagDigest(ecr, 'runtime', id);
  assert.ok(digest, `runtime:${id} was pushed`);
  for (const tag of [`${prefix}-${version}`, '6.0']) assert.equal(await tagDigest(ecr, 'runtime', tag), digest, `runtime:${tag} is the new image`);
  assert.equal((await fileInImage(`${ecr.host}/runtime:${prefix}-${version}`, '/runtime-version')).trim(), runtimeVersion);
  assert.equal((await fileInImage(`${ecr.host}/runtime:${prefix}-${version}`, '/etc/platform-release')).trim(), 'contoso platform image');
  const received = await teams.waitFor(messages);
  assert.equal(received.length, messages, 'one message per rebuild');
  assert.deepEqual(received[messages - 1]!.json, {
    '@type': 'MessageCard',
    '@context': 'https://schema.org/extensions',
    summary: `Platform image runtime:${prefix} updated`,
    title: `Platform image runtime:${prefix} updated`,
    text: `run ${id} passed its integration test and was pushed`,
  });
}

describe('S5: keep platform images up to date (seed 004)', () => {
  it('the platform task: the seed\'s pipeline as a task file, its webhook URI a secret, its cron a timer', async () => {
    await cli(['secret', 'set', '-r', 'ecr', '-n', 'teams-webhook-uri', '--value-stdin'], { input: teams.url });
    const context = folderWith('s5-repo', {
      'acr-task.yaml': taskFile,
      'platform-images/net6/runtime/Dockerfile': `FROM ${mcr.host}/dotnet/runtime:${prefix}\nRUN mkdir -p /etc && echo "contoso platform image" > /etc/platform-release\n`,
      'shared/integration-tests/net6/Dockerfile': `ARG PLATFORM_IMAGE=runtime:${prefix}\nFROM \${PLATFORM_IMAGE}\nRUN mkdir -p /www && echo healthy > /www/health\nEXPOSE 8080\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n`,
    });
    const created = await cli(['task', 'create', '-r', 'ecr', '-n', 'runtime-platform', '-f', 'acr-task.yaml', '-c', context, '--schedule', 'weekly:0 6 * * 1', '-o', 'json']);
    assert.deepEqual((JSON.parse(created.stdout) as { triggerKinds: string[] }).triggerKinds, ['BASE_IMAGE', 'TIMER']);
  });

  it('the scheduled check: polls while the upstream digest is unchanged run nothing', async () => {
    const first = await polledAfter(0);
    const upstream = await tagDigest(mcr, 'dotnet/runtime', prefix);
    // Three more polls of the same digest.
    let last = Date.parse(first.checkedAt!);
    for (let i = 0; i < 3; i++) last = Date.parse((await polledAfter(last)).checkedAt!);
    assert.equal((await shownBase()).error, null);
    assert.deepEqual(await runsOf(ecr, 'runtime-platform'), [], `no run while ${upstream} is unchanged`);
    assert.equal(teams.received.length, 0);
  });

  it('an upstream change rebuilds: integration test answers 200, then 6.0-bullseye-slim-1.0.0, the extra tags and a Teams message', async () => {
    const v2 = await publishRuntime('6.0.2');
    const [update] = await waitForTriggeredRuns(ecr, 'runtime-platform', 'Image Update', 1, 180_000);
    await assertSucceeded(ecr, update!);
    assert.equal(update!.imageUpdateTrigger!.images[0]!.digest, v2);
    const log = await (await fetch(`${ecr.url}/api/v1/runs/${update!.id}/logs`, { headers: { Authorization: `Basic ${Buffer.from(`admin:${adminCredentials.password}`).toString('base64')}` } })).text();
    assert.match(log, /HTTP\/1\.[01] 200 OK/, 'the integration-test app answered 200');
    assert.match(log, new RegExp(`${prefix}-1\\.0\\.0`));
    assert.doesNotMatch(log, new RegExp(`127\\.0\\.0\\.1:${teams.port}/hook`), 'the webhook URI is masked');
    assert.deepEqual(await versionTags(), [`${prefix}-1.0.0`]);
    await assertRebuilt(update!.id, '1.0.0', '6.0.2', 1);
  });

  it('the next upstream change: 6.0-bullseye-slim-1.1.0', async () => {
    await polledAfter(Date.now());
    await publishRuntime('6.0.3');
    const updates = await waitForTriggeredRuns(ecr, 'runtime-platform', 'Image Update', 2, 180_000);
    await assertSucceeded(ecr, updates[1]!);
    assert.deepEqual(await versionTags(), [`${prefix}-1.0.0`, `${prefix}-1.1.0`]);
    await assertRebuilt(updates[1]!.id, '1.1.0', '6.0.3', 2);
  });

  it('force_update: task run skips the check and makes 1.2.0 from the same upstream', async () => {
    const result = await cli(['task', 'run', '-r', 'ecr', '-n', 'runtime-platform']);
    const id = /Queued a run with ID: (cb\d+)/.exec(result.stdout)?.[1];
    assert.ok(id, result.stdout);
    assert.deepEqual(await versionTags(), [`${prefix}-1.0.0`, `${prefix}-1.1.0`, `${prefix}-1.2.0`]);
    await assertRebuilt(id, '1.2.0', '6.0.3', 3);
    // Polls after it still find 6.0.3: nothing more runs.
    await polledAfter(Date.now());
    await polledAfter(Date.now());
    assert.deepEqual(await triggerCounts(ecr, 'runtime-platform'), { 'Image Update': 2, Manual: 1 });
    const table = (await cli(['task', 'list-runs', '-r', 'ecr', '-n', 'runtime-platform'])).stdout;
    assert.match(table, /runtime-platform\s+linux\/amd64\s+Succeeded\s+Manual\s/);
    assert.equal(teams.received.length, 3);
  });
});
