import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { OciClient } from '../helpers/oci-client.js';
import { Receiver } from '../helpers/receiver.js';
import { berthCliAsync, leftovers, runRecord } from '../helpers/task-helpers.js';
import { chatFormatFor, chatMessage } from '../../src/cli/commands/notify.js';

const receiver = new Receiver();
const configDir = tempDir('notify-cli');
process.env.DOCKER_CONFIG = join(tempDir('notify-docker'), 'docker');
let berth: BerthProcess | undefined;

// Without a login: notify needs none.
const cli = (args: string[]) => berthCliAsync(tempDir('notify-nologin'), args);

before(async () => {
  await receiver.start();
});
after(async () => {
  await berth?.stop();
  await receiver.stop();
});

describe('berth notify', () => {
  it('posts Slack shape by default, Teams MessageCard with --format teams, without a registry login', async () => {
    const slack = await cli(['notify', '--uri', receiver.url, '--title', 'Platform 1.1.0', '--text', 'built and tested']);
    assert.equal(slack.status, 0, slack.stderr);
    assert.match(slack.stdout, /Posted to http:\/\/127\.0\.0\.1:\d+ \(slack, HTTP 200\)/);
    assert.doesNotMatch(slack.stdout, /\/hook/, 'the webhook URL is a secret: only its origin is shown');
    const teams = await cli(['notify', '--uri', receiver.url, '--title', 'Platform 1.1.0', '--text', 'built and tested', '--format', 'teams', '-o', 'json']);
    assert.equal(teams.status, 0, teams.stderr);
    assert.equal(JSON.parse(teams.stdout).format, 'teams');
    const [first, second] = await receiver.waitFor(2);
    assert.equal(first!.method, 'POST');
    assert.equal(first!.headers['content-type'], 'application/json');
    assert.deepEqual(first!.json, {
      text: 'Platform 1.1.0\nbuilt and tested',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Platform 1.1.0' } },
        { type: 'section', text: { type: 'mrkdwn', text: 'built and tested' } },
      ],
    });
    assert.deepEqual(second!.json, { '@type': 'MessageCard', '@context': 'https://schema.org/extensions', summary: 'Platform 1.1.0', title: 'Platform 1.1.0', text: 'built and tested' });
  });

  it('auto: Teams for Microsoft webhook hosts, Slack otherwise', () => {
    assert.equal(chatFormatFor(new URL('https://contoso.webhook.office.com/webhookb2/abc'), 'auto'), 'teams');
    assert.equal(chatFormatFor(new URL('https://prod-12.westeurope.logic.azure.com:443/workflows/x'), 'auto'), 'teams');
    assert.equal(chatFormatFor(new URL('https://hooks.slack.com/services/T/B/X'), 'auto'), 'slack');
    assert.equal(chatFormatFor(new URL('https://evil-webhook.office.com.example.net/x'), 'auto'), 'slack');
    assert.equal(chatFormatFor(new URL('https://contoso.webhook.office.com/x'), 'slack'), 'slack');
    assert.deepEqual(chatMessage('slack', 'only a title', ''), { text: 'only a title', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'only a title' } }] });
  });

  it('a receiver answering non-2xx, an unreachable one, a bad URI or format: a clear error and exit code 1', async () => {
    receiver.status = 500;
    try {
      const failed = await cli(['notify', '--uri', receiver.url, '--title', 't', '--text', 'x']);
      assert.equal(failed.status, 1);
      assert.match(failed.stderr, /^berth: http:\/\/127\.0\.0\.1:\d+ answered 500: receiver failing; the message was not posted\n$/);
    } finally {
      receiver.status = 200;
    }
    const down = await cli(['notify', '--uri', 'http://127.0.0.1:1/hook', '--title', 't']);
    assert.equal(down.status, 1);
    assert.match(down.stderr, /cannot post to http:\/\/127\.0\.0\.1:1/);
    const metadata = await cli(['notify', '--uri', 'http://169.254.169.254/latest', '--title', 't']);
    assert.equal(metadata.status, 1);
    assert.match(metadata.stderr, /egress policy/);
    assert.equal((await cli(['notify', '--uri', 'not a url', '--title', 't'])).status, 1);
    const format = await cli(['notify', '--uri', receiver.url, '--title', 't', '--format', 'irc']);
    assert.equal(format.status, 1);
    assert.match(format.stderr, /unknown --format "irc"/);
  });

  it('as cmd steps of a task file (real server, real engine): build, push, tag the next version twice, notify with it', async () => {
    berth = await startBerth();
    const image = await ensureBusyboxImage();
    assert.equal((await berthCliAsync(configDir, ['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
    // A repository the task names nowhere but in tag-next-version: the run's login must still be allowed to tag it.
    const oci = new OciClient(berth.url);
    const { digest: tagOnlyDigest } = await oci.pushImage('s5/tag-only', 'src');
    const before = receiver.received.length;
    const context = tempDir('notify-context');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nRUN echo platform > /platform\n`);
    writeFileSync(
      join(context, 'acr-task.yaml'),
      `version: v1.1.0
steps:
  - build: -t {{.Run.Registry}}/s5/platform:{{.Run.ID}} .
  - push: ["{{.Run.Registry}}/s5/platform:{{.Run.ID}}"]
  - cmd: berth repository tag-next-version --repository s5/platform --source {{.Run.ID}} --prefix 6.0-bullseye-slim
  - cmd: berth repository tag-next-version --repository s5/platform --source {{.Run.ID}} --prefix 6.0-bullseye-slim
  - cmd: berth repository tag-next-version --repository s5/tag-only --source src --prefix rel --bump patch
  - cmd: berth notify --uri ${receiver.url} --title "Platform image {{.Run.ID}}" --text "pushed s5/platform" --format teams
`,
    );
    const result = await berthCliAsync(configDir, ['run', '-f', 'acr-task.yaml', context]);
    const id = /Queued a run with ID: (cb\d+)/.exec(result.stdout)?.[1];
    assert.ok(id, result.stdout + result.stderr);
    const record = await runRecord(berth, id);
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}\n${JSON.stringify(record)}`);
    assert.equal(record.status, 'Succeeded');
    assert.match(result.stdout, /6\.0-bullseye-slim-1\.0\.0\n[\s\S]*6\.0-bullseye-slim-1\.1\.0\n/);
    assert.match(result.stdout, /rel-1\.0\.0/);

    const pushed = record.outputImages.find((o) => o.repository === 's5/platform');
    assert.ok(pushed, JSON.stringify(record.outputImages));
    for (const tag of ['6.0-bullseye-slim-1.0.0', '6.0-bullseye-slim-1.1.0']) {
      const res = await oci.request('HEAD', `/v2/s5/platform/manifests/${tag}`, { headers: { Accept: 'application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(res.status, 200, tag);
      assert.equal(res.headers.get('docker-content-digest'), pushed.digest, tag);
    }
    const tagOnly = await oci.request('HEAD', '/v2/s5/tag-only/manifests/rel-1.0.0', { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } });
    assert.equal(tagOnly.headers.get('docker-content-digest'), tagOnlyDigest);

    const received = await receiver.waitFor(before + 1);
    assert.deepEqual(received[before]!.json, { '@type': 'MessageCard', '@context': 'https://schema.org/extensions', summary: `Platform image ${id}`, title: `Platform image ${id}`, text: 'pushed s5/platform' });
    assert.equal(await leftovers(berth), '');
  });
});
