import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { createRepository, pushCommit, startGitServer, type GitServer } from '../helpers/git-server.js';
import { waitFor } from '../helpers/wait.js';
import {
  assertSucceeded,
  buildAndPush,
  cliFor,
  fileInImage,
  runsOf,
  tagDigest,
  triggerCounts,
  waitForTriggeredRuns,
  type ShownBase,
} from './scenario-helpers.js';

/**
 * Scenario S3 (seed 000, "trust an internal CA at build time"), played for real: a private git
 * repository with the seed's Dockerfile-YourApp and two CA certificates made with openssl; a
 * second Berth standing in for the private GitHub registry the base image comes from
 * (ghcr.io/visorian/YourApp); the task created with the seed's own command line, with
 * `az acr` → `berth`, testacr → the logged-in Berth, ghcr.io → the second Berth, and nothing else.
 * A commit, a base-image change upstream, a timer and a manual run each give exactly one run
 * with the right trigger, and every image built trusts both CAs.
 *
 * The seed's `--image YourApp:latest`: repository names are lower case in every registry
 * (the OCI distribution spec; `docker build -t YourApp:latest` itself refuses it). The seed's
 * command must work as written, so Berth keeps the task as given and pushes the lower-cased
 * repository, yourapp:latest (the tag is left as it is: tags are case-sensitive). The seed's
 * `FROM ghcr.io/visorian/YourApp:latest` is replaced by the second Berth's lower-case name, as a
 * real FROM line must be (Docker refuses an upper-case one before any registry is asked).
 *
 * The base image is a busybox stand-in; it ships `update-ca-certificates` as a small script doing
 * what Debian's does for this case (the bundle /etc/ssl/certs/ca-certificates.crt is rebuilt from
 * the certificates under /usr/local/share/ca-certificates), so the seed's RUN line is unchanged.
 */
process.env.DOCKER_CONFIG = join(tempDir('s3-docker'), 'docker');
const gitToken = 'ghp_s3PersonalAccessToken0123456789';
const cli = cliFor(tempDir('s3-cli'));

let git: GitServer;
let ghcr: BerthProcess; // the private upstream registry (the seed's ghcr.io)
let testacr: BerthProcess; // the seed's testacr
let repoUrl: string;
let webhookSecret: string;
let rootPem: string;
let issuingPem: string;
let leafCert: string;
const certs = tempDir('s3-certs');

const updateCaCertificates = `#!/bin/sh
# Stand-in for Debian's update-ca-certificates (this base is busybox): rebuilds the bundle from
# the system certificates plus those under /usr/local/share/ca-certificates.
set -e
mkdir -p /etc/ssl/certs
added=0
cat /etc/ssl/system-ca.crt > /etc/ssl/certs/ca-certificates.crt
for cert in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$cert" ] || continue
  cat "$cert" >> /etc/ssl/certs/ca-certificates.crt
  added=$((added + 1))
done
echo "Updating certificates in /etc/ssl/certs... $added added, 0 removed; done."
`;

/** The upstream's YourApp image: busybox with every applet, the script above, and a version file. */
const yourAppImage = async (version: string) => {
  const busybox = await ensureBusyboxImage();
  return buildAndPush(`${ghcr.host}/yourapp:latest`, {
    Dockerfile: `FROM ${busybox}
RUN /bin/busybox mkdir -p /usr/sbin /usr/local/share/ca-certificates /etc/ssl && /bin/busybox --install -s /bin
COPY update-ca-certificates /usr/sbin/update-ca-certificates
RUN chmod 755 /usr/sbin/update-ca-certificates && echo "# system CAs of the base" > /etc/ssl/system-ca.crt
RUN echo ${version} > /yourapp-version
`,
    'update-ca-certificates': updateCaCertificates,
  });
};

const openssl = (args: string[]) => run('openssl', args);

/** Waits until a poll of the upstream is recorded later than `since` (so the poller has seen what is there now). */
async function polledAfter(since: number): Promise<ShownBase> {
  return waitFor(
    async () => {
      const shown = JSON.parse((await cli(['task', 'show', '--registry', 'testacr', '--name', 'YourApp', '-o', 'json'])).stdout) as { baseImages: ShownBase[] };
      const base = shown.baseImages.find((b) => b.registry === ghcr.host && b.repository === 'yourapp');
      return base?.checkedAt && Date.parse(base.checkedAt) > since && !base.error ? base : null;
    },
    { what: 'a poll of the upstream yourapp:latest', timeoutMs: 30_000, intervalMs: 500 },
  );
}

before(async () => {
  // Two CAs made with openssl: a root, and an issuing CA signed by it; and a server certificate
  // the issuing CA signed (the internal HTTPS service the containers must trust).
  await openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(certs, 'root.key'), '-out', join(certs, 'root-ca.crt'), '-days', '2', '-subj', '/CN=Berth S3 Root CA']);
  writeFileSync(join(certs, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(certs, 'issuing.key'), '-out', join(certs, 'issuing.csr'), '-subj', '/CN=Berth S3 Issuing CA']);
  await openssl(['x509', '-req', '-in', join(certs, 'issuing.csr'), '-CA', join(certs, 'root-ca.crt'), '-CAkey', join(certs, 'root.key'), '-CAcreateserial', '-out', join(certs, 'issuing-ca.crt'), '-days', '2', '-extfile', join(certs, 'ca.ext')]);
  await openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(certs, 'service.key'), '-out', join(certs, 'service.csr'), '-subj', '/CN=internal.service.example']);
  await openssl(['x509', '-req', '-in', join(certs, 'service.csr'), '-CA', join(certs, 'issuing-ca.crt'), '-CAkey', join(certs, 'issuing.key'), '-CAcreateserial', '-out', join(certs, 'service.crt'), '-days', '2']);
  rootPem = readFileSync(join(certs, 'root-ca.crt'), 'utf8');
  issuingPem = readFileSync(join(certs, 'issuing-ca.crt'), 'utf8');
  leafCert = join(certs, 'service.crt');

  git = await startGitServer(gitToken);
  [ghcr, testacr] = await Promise.all([startBerth(), startBerth({ env: { BERTH_BASE_POLL_SECONDS: '2' } })]);
  for (const server of [ghcr, testacr]) await run('docker', ['login', server.host, '-u', 'admin', '--password-stdin'], { input: adminCredentials.password });
  await yourAppImage('v1');

  // The seed's repository "acr-repo" (private: the git server wants the token for names starting with "private").
  const dockerfile = `FROM ${ghcr.host}/yourapp:latest
COPY issuing-ca.crt /usr/local/share/ca-certificates/issuing-ca.crt
COPY root-ca.crt /usr/local/share/ca-certificates/root-ca.crt
RUN chmod 644 /usr/local/share/ca-certificates/issuing-ca.crt \\
&& chmod 644 /usr/local/share/ca-certificates/root-ca.crt \\
&& update-ca-certificates
`;
  await createRepository(git, 'private-acr-repo', 'main', { 'Dockerfile-YourApp': dockerfile, 'issuing-ca.crt': issuingPem, 'root-ca.crt': rootPem, 'README.md': 'certificates for our images\n' });
  repoUrl = `${git.url}/git/private-acr-repo.git`;

  await cli(['login', testacr.url, '-n', 'testacr', '-u', 'admin', '-p', adminCredentials.password]);
  await cli(['login', ghcr.url, '-n', 'ghcr', '-u', 'admin', '-p', adminCredentials.password]);
});

after(async () => {
  await Promise.all([testacr?.stop(), ghcr?.stop(), git?.close()]);
});

/** The CA bundle of an image, checked: both CAs in it, and a certificate the issuing CA signed verifies against it. */
async function assertTrustsBothCas(image: string): Promise<void> {
  const bundle = await fileInImage(image, '/etc/ssl/certs/ca-certificates.crt');
  assert.ok(bundle.includes(rootPem.trim()), `${image} has the root CA in its bundle`);
  assert.ok(bundle.includes(issuingPem.trim()), `${image} has the issuing CA in its bundle`);
  const bundleFile = join(tempDir('s3-bundle'), 'ca-certificates.crt');
  writeFileSync(bundleFile, bundle);
  assert.match(await openssl(['verify', '-CAfile', bundleFile, leafCert]), /: OK/, 'the internal service certificate verifies against the image\'s bundle');
}

describe('S3: trust an internal CA at build time (seed 000)', () => {
  it('the seed\'s task create and credential add, as written', async () => {
    // The upstream registry is private: a pull-only token for yourapp, as a GitHub PAT with read:packages.
    const password = (await cli(['token', 'create', '--name', 'testacr-pull', '--registry', 'ghcr', '--repository', 'yourapp', 'content/read', '-o', 'tsv', '--query', 'credentials.passwords[0].value'])).stdout.trim();
    assert.ok(password.length > 10);

    const created = await cli(['task', 'create', '--registry', 'testacr', '--name', 'YourApp', '--image', 'YourApp:latest', '--context', `${repoUrl}#main`, '--file', 'Dockerfile-YourApp', '--git-access-token', gitToken]);
    assert.match(created.stdout, /YourApp\s+linux\/amd64\s+Enabled/);
    // The commit trigger's secret, shown once (the seed's table output must not lose it).
    webhookSecret = /Webhook secret \(shown only now\): ([0-9a-f]{64})/.exec(created.stdout)?.[1] ?? '';
    assert.ok(webhookSecret, created.stdout);
    assert.match(created.stdout, new RegExp(`Source webhook: ${testacr.url}/api/v1/tasks/YourApp/source-webhook`));
    assert.doesNotMatch(created.stdout + created.stderr, new RegExp(gitToken), 'the git token is never shown');

    await cli(['task', 'credential', 'add', '--name', 'YourApp', '--registry', 'testacr', '--login-server', ghcr.host, '-u', 'testacr-pull', '-p', password]);
    const credentials = await cli(['task', 'credential', 'list', '--name', 'YourApp', '--registry', 'testacr', '-o', 'json']);
    assert.doesNotMatch(credentials.stdout, new RegExp(password), 'credential values are never shown');

    // The task knows its base from its Dockerfile in git before any run, and polls it.
    const base = await polledAfter(0);
    assert.deepEqual([base.repository, base.tag, base.dependency], ['yourapp', 'latest', 'runtime']);
    const listed = await cli(['task', 'list', '--registry', 'testacr']);
    assert.match(listed.stdout, /YourApp\s.*BASE_IMAGE, SOURCE/);
  });

  it('a manual run (task run) builds yourapp:latest, which trusts both CAs', async () => {
    const result = await cli(['task', 'run', '--name', 'YourApp', '--registry', 'testacr']);
    assert.match(result.stdout, /Updating certificates in \/etc\/ssl\/certs\.\.\. 2 added/);
    const [manual] = await waitForTriggeredRuns(testacr, 'YourApp', 'Manual', 1);
    await assertSucceeded(testacr, manual!);
    assert.deepEqual(manual!.outputImages.map((i) => `${i.repository}:${i.tag}`), ['yourapp:latest']);
    await assertTrustsBothCas(`${testacr.host}/yourapp:latest`);
    assert.equal((await fileInImage(`${testacr.host}/yourapp:latest`, '/yourapp-version')).trim(), 'v1');
  });

  let occurrence = '';
  it('a commit to main (push webhook) rebuilds once; the timer is set meanwhile', async () => {
    // The seed: "To make it time triggered, use --schedule". One occurrence, at least 20 s ahead,
    // so exactly one timer run is due while the other triggers are played.
    const at = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000);
    occurrence = at.toISOString();
    await cli(['task', 'update', '--registry', 'testacr', '--name', 'YourApp', '--schedule', `${at.getUTCMinutes()} ${at.getUTCHours()} ${at.getUTCDate()} ${at.getUTCMonth() + 1} *`]);

    const commit = await pushCommit(git, 'private-acr-repo', 'main', { 'README.md': 'certificates for our images, now with notes\n' });
    const body = JSON.stringify({
      ref: 'refs/heads/main',
      before: '0'.repeat(39) + '1',
      after: commit,
      repository: { full_name: 'itpropro/acr-repo', clone_url: repoUrl, default_branch: 'main' },
      head_commit: { id: commit, message: 'notes' },
    });
    const signature = `sha256=${createHmac('sha256', webhookSecret).update(body).digest('hex')}`;
    const delivered = await fetch(`${testacr.url}/api/v1/tasks/YourApp/source-webhook`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': 's3-delivery-1', 'X-Hub-Signature-256': signature },
      body,
    });
    assert.equal(delivered.status, 200, await delivered.clone().text());
    assert.equal(((await delivered.json()) as { verdict: string }).verdict, 'queued');
    const [commitRun] = await waitForTriggeredRuns(testacr, 'YourApp', 'Commit', 1);
    await assertSucceeded(testacr, commitRun!);
    assert.equal(commitRun!.sourceTrigger?.commit, commit);
    await assertTrustsBothCas(`${testacr.host}/yourapp:latest`);
  });

  it('a new yourapp:latest upstream: the poll finds it and rebuilds once, on the new base', async () => {
    await polledAfter(Date.now());
    const before = await tagDigest(testacr, 'yourapp', 'latest');
    const v2 = await yourAppImage('v2');
    const [update] = await waitForTriggeredRuns(testacr, 'YourApp', 'Image Update', 1);
    await assertSucceeded(testacr, update!);
    assert.deepEqual(update!.imageUpdateTrigger!.images.map((i) => [i.registry, i.repository, i.tag, i.digest]), [[ghcr.host, 'yourapp', 'latest', v2]]);
    assert.notEqual(await tagDigest(testacr, 'yourapp', 'latest'), before);
    assert.equal((await fileInImage(`${testacr.host}/yourapp:latest`, '/yourapp-version')).trim(), 'v2');
    await assertTrustsBothCas(`${testacr.host}/yourapp:latest`);
    const shown = await polledAfter(Date.now());
    assert.equal(shown.digest, v2, 'task show lists the base with the digest the build used');
  });

  it('the timer fires once at its occurrence; in all, one run per trigger', async () => {
    const [timer] = await waitForTriggeredRuns(testacr, 'YourApp', 'Timer', 1, 120_000);
    await assertSucceeded(testacr, timer!);
    assert.equal(timer!.timerTrigger!.scheduleOccurrence, occurrence);
    await assertTrustsBothCas(`${testacr.host}/yourapp:latest`);

    // Polls go on after every run ended and find the same digest: nothing more runs.
    await polledAfter(Date.now());
    await polledAfter(Date.now());
    assert.deepEqual(await triggerCounts(testacr, 'YourApp'), { Manual: 1, Commit: 1, 'Image Update': 1, Timer: 1 });
    const table = await cli(['task', 'list-runs', '--registry', 'testacr', '--name', 'YourApp']);
    for (const trigger of ['Manual', 'Commit', 'Image Update', 'Timer']) assert.match(table.stdout, new RegExp(`YourApp\\s+linux/amd64\\s+Succeeded\\s+${trigger}\\s`));
    assert.equal((await runsOf(testacr, 'YourApp')).length, 4);
  });
});
