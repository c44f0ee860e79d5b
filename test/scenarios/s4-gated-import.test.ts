import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { createRepository, pushCommit, startGitServer, type GitServer } from '../helpers/git-server.js';
import { waitFor } from '../helpers/wait.js';
import { assertSucceeded, buildAndPush, cliFor, fileInImage, runsOf, tagDigest, tagsOf, triggerCounts, waitForTriggeredRuns, type ShownBase } from './scenario-helpers.js';
import { seed001ImportTask } from '../helpers/seed-files.js';

/**
 * Scenario S4 (seed 001, "consume and maintain public content"), played for real with three
 * Berth servers: publicregistry (the simulated Docker Hub), contosobaseartifacts (the gated
 * imports) and contoso (the team), three private git repositories, and the seed's three tasks
 * created with its own commands (`az acr` → `berth`, registry names → the logged-in Berths).
 * `az keyvault secret set` becomes `berth secret set` on the server whose task reads the secret
 * (each Berth is its own vault), and the task credentials keep the seed's Key Vault URLs, whose
 * last part names that Berth secret: no credential is ever in a task file.
 *
 * Stand-ins: node:15-alpine is busybox with all its applets; "docker.io" (REGISTRY_DOCKERHUB_URL)
 * is a hub/ namespace in publicregistry (this machine reaches no public registry), so the seed's
 * Docker Hub credential is not added; the ACI deployment step of hello-world is left out (no ACI):
 * hello-world builds a page showing the base's BACKGROUND_COLOR instead. The seed's base-image-node
 * and hello-world repositories show no acr-task.yaml: they are written here as the seed describes
 * them (build, push).
 */
process.env.DOCKER_CONFIG = join(tempDir('s4-docker'), 'docker');
const gitToken = 'ghp_s4GitToken0123456789abcdef';
const cli = cliFor(tempDir('s4-cli'));
const akv = 'acr-task-credentials';

let git: GitServer;
let publicRegistry: BerthProcess;
let baseArtifacts: BerthProcess;
let contoso: BerthProcess;
const secrets: Record<string, string> = {};

const baseImageNode = (color: string) => `ARG REGISTRY_NAME=
FROM \${REGISTRY_NAME}node:15-alpine
ENV NODE_VERSION 15-alpine
ENV BACKGROUND_COLOR ${color}
`;
// Written as the seed describes base-image-node's task: build the public node image, push it.
const baseImageNodeTask = `version: v1.1.0
steps:
  - id: build
    build: --build-arg REGISTRY_NAME={{.Values.REGISTRY_FROM_URL}} -t {{.Run.Registry}}/node:15-alpine .
  - id: push
    when: ['build']
    push: ["{{.Run.Registry}}/node:15-alpine"]
`;
// The seed's import-baseimage-node, as written.
const importTask = seed001ImportTask;
const importDockerfile = `ARG REGISTRY_FROM_URL=
FROM \${REGISTRY_FROM_URL}node:15-alpine
WORKDIR /test
COPY ./test.sh .
CMD ./test.sh
`;
const testScript = `#!/bin/sh
if [ ""$(echo $BACKGROUND_COLOR | tr '[:lower:]' '[:upper:]') = 'RED' ]; then
    echo -e "\\e[31mERROR: Invalid Color:\\e[0m" \${BACKGROUND_COLOR}
    EXIT_CODE=1
else
  echo -e "\\e[32mValidation Complete - No Known Errors\\e[0m"
fi
exit \${EXIT_CODE}
`;
const helloWorldTask = `version: v1.1.0
steps:
  - id: build
    build: -t {{.Run.Registry}}/hello-world:{{.Run.ID}} -t {{.Run.Registry}}/hello-world:latest --build-arg REGISTRY_FROM_URL={{.Values.REGISTRY_FROM_URL}} .
  - id: push
    when: ['build']
    push: ["{{.Run.Registry}}/hello-world:{{.Run.ID}}", "{{.Run.Registry}}/hello-world:latest"]
`;
const helloWorldDockerfile = `ARG REGISTRY_FROM_URL=
FROM \${REGISTRY_FROM_URL}node:15-alpine
RUN mkdir -p /www && echo "<body style=\\"background:$BACKGROUND_COLOR\\">hello world on node $NODE_VERSION</body>" > /www/index.html
CMD ["httpd", "-f", "-h", "/www"]
`;

/** Commits files with git as a developer does, with test.sh executable (the seed's `chmod +x ./test.sh`). */
async function makeExecutable(name: string, path: string): Promise<void> {
  const work = tempDir('s4-chmod');
  const g = (args: string[]) => run('git', ['-C', work, '-c', 'user.name=Dev', '-c', 'user.email=dev@example.invalid', ...args]);
  await run('git', ['clone', '--quiet', join(git.root, `${name}.git`), work]);
  await g(['update-index', '--chmod=+x', path]);
  await g(['commit', '--quiet', '-m', `chmod +x ${path}`]);
  await g(['push', '--quiet', 'origin', 'main']);
}

const gitUrl = (name: string) => `${git.url}/git/${name}.git#main`;

/** A commit to base-image-node, announced by the signed push webhook GitHub would send. */
async function commitColor(color: string): Promise<string> {
  const commit = await pushCommit(git, 'private-base-image-node', 'main', { Dockerfile: baseImageNode(color) });
  const body = JSON.stringify({
    ref: 'refs/heads/main',
    after: commit,
    repository: { full_name: 'importing-public-content/base-image-node', clone_url: `${git.url}/git/private-base-image-node.git`, default_branch: 'main' },
    head_commit: { id: commit, message: `BACKGROUND_COLOR ${color}` },
  });
  const response = await fetch(`${publicRegistry.url}/api/v1/tasks/node-public/source-webhook`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-GitHub-Event': 'push', 'X-GitHub-Delivery': `s4-${color}`, 'X-Hub-Signature-256': `sha256=${createHmac('sha256', secrets.nodePublicWebhook!).update(body).digest('hex')}` },
    body,
  });
  assert.equal(response.status, 200, await response.text());
  return commit;
}

/** Waits until `task` on `server` has polled every one of its remote bases after `since`. */
async function polledAfter(server: BerthProcess, registryName: string, task: string, since: number): Promise<ShownBase[]> {
  return waitFor(
    async () => {
      const shown = JSON.parse((await cli(['task', 'show', '-r', registryName, '-n', task, '-o', 'json'])).stdout) as { baseImages: ShownBase[] };
      const remote = shown.baseImages.filter((b) => b.registry !== server.host);
      return remote.length > 0 && remote.every((b) => b.checkedAt && Date.parse(b.checkedAt) > since && !b.error) ? shown.baseImages : null;
    },
    { what: `${task} on ${registryName} to poll its bases`, timeoutMs: 30_000, intervalMs: 500 },
  );
}

const webhookSecretOf = (stdout: string) => {
  const secret = /Webhook secret \(shown only now\): ([0-9a-f]{64})/.exec(stdout)?.[1];
  assert.ok(secret, stdout);
  return secret;
};

before(async () => {
  git = await startGitServer(gitToken);
  const poll = { BERTH_BASE_POLL_SECONDS: '1' };
  [publicRegistry, baseArtifacts, contoso] = await Promise.all([startBerth(), startBerth({ env: poll }), startBerth({ env: poll })]);
  for (const server of [publicRegistry, baseArtifacts, contoso]) await run('docker', ['login', server.host, '-u', 'admin', '--password-stdin'], { input: adminCredentials.password });
  // Docker Hub's node:15-alpine, simulated: busybox with every applet.
  const busybox = await ensureBusyboxImage();
  await buildAndPush(`${publicRegistry.host}/hub/node:15-alpine`, { Dockerfile: `FROM ${busybox}\nRUN /bin/busybox --install -s /bin\n` });

  await createRepository(git, 'private-base-image-node', 'main', { Dockerfile: baseImageNode('Blue'), 'acr-task.yaml': baseImageNodeTask });
  await createRepository(git, 'private-import-baseimage-node', 'main', { Dockerfile: importDockerfile, 'test.sh': testScript, 'acr-task.yaml': importTask });
  await makeExecutable('private-import-baseimage-node', 'test.sh');
  await createRepository(git, 'private-hello-world', 'main', { Dockerfile: helloWorldDockerfile, 'acr-task.yaml': helloWorldTask });

  await cli(['login', publicRegistry.url, '-n', 'publicregistry', '-u', 'admin', '-p', adminCredentials.password]);
  await cli(['login', baseArtifacts.url, '-n', 'contosobaseartifacts', '-u', 'admin', '-p', adminCredentials.password]);
  await cli(['login', contoso.url, '-n', 'contoso', '-u', 'admin', '-p', adminCredentials.password]);
});

after(async () => {
  await Promise.all([publicRegistry?.stop(), baseArtifacts?.stop(), contoso?.stop(), git?.close()]);
});

describe('S4: gated import of public content (seed 001)', () => {
  it('the public node image: node-public, created and run with the seed\'s commands', async () => {
    const created = await cli(['task', 'create', '--name', 'node-public', '-r', 'publicregistry', '-f', 'acr-task.yaml', '--context', gitUrl('private-base-image-node'), '--git-access-token', gitToken, '--set', `REGISTRY_FROM_URL=${publicRegistry.host}/hub/`, '--assign-identity']);
    secrets.nodePublicWebhook = webhookSecretOf(created.stdout);
    await cli(['task', 'run', '-r', 'publicregistry', '-n', 'node-public']);
    // The seed lists the tags with `az acr repository show-tags -n $REGISTRY_PUBLIC --repository node`:
    // Berth has no `repository show-tags` yet, so the registry API answers here.
    assert.deepEqual(await tagsOf(publicRegistry, 'node'), ['15-alpine']);
  });

  it('the gated import on contosobaseartifacts: pull token and credentials as secrets, the seed\'s task, a first run imports the good base', async () => {
    // A pull token on the public registry, kept as two secrets where the importing task runs.
    const password = (await cli(['token', 'create', '--name', 'registry-publicregistry-user', '--registry', 'publicregistry', '--scope-map', '_repositories_pull', '-o', 'tsv', '--query', 'credentials.passwords[0].value'])).stdout.trim();
    for (const registry of ['contosobaseartifacts', 'contoso']) {
      await cli(['secret', 'set', '-r', registry, '--name', 'registry-publicregistry-user', '--value', 'registry-publicregistry-user']);
      await cli(['secret', 'set', '-r', registry, '--name', 'registry-publicregistry-password', '--value-stdin'], { input: password });
    }
    await cli(['task', 'create', '--name', 'base-import-node', '-f', 'acr-task.yaml', '-r', 'contosobaseartifacts', '--context', gitUrl('private-import-baseimage-node'), '--git-access-token', gitToken, '--set', `REGISTRY_FROM_URL=${publicRegistry.host}/`, '--assign-identity']);
    await cli(['task', 'credential', 'add', '-n', 'base-import-node', '-r', 'contosobaseartifacts', '--login-server', publicRegistry.host, '-u', `https://${akv}.vault.azure.net/secrets/registry-publicregistry-user`, '-p', `https://${akv}.vault.azure.net/secrets/registry-publicregistry-password`, '--use-identity', '[system]']);
    const shown = await cli(['task', 'show', '-n', 'base-import-node', '-r', 'contosobaseartifacts', '-o', 'json']);
    assert.doesNotMatch(shown.stdout, new RegExp(password), 'the password is nowhere in the task');

    const result = await cli(['task', 'run', '-n', 'base-import-node', '-r', 'contosobaseartifacts']);
    assert.match(result.stdout, /Validation Complete - No Known Errors/);
    assert.doesNotMatch(result.stdout, new RegExp(password));
    assert.equal(await tagDigest(baseArtifacts, 'node', '15-alpine'), await tagDigest(publicRegistry, 'node', '15-alpine'));
  });

  it('hello-world on contoso, moved by the seed\'s commands from the public registry to the gated base', async () => {
    await cli(['task', 'create', '-n', 'hello-world', '-r', 'contoso', '-f', 'acr-task.yaml', '--context', gitUrl('private-hello-world'), '--git-access-token', gitToken, '--set', `REGISTRY_FROM_URL=${publicRegistry.host}/`, '--set', `KEYVAULT=${akv}`, '--set', 'ACI=hello-world-aci', '--set', 'ACI_RG=hello-world-aci-rg', '--assign-identity']);
    await cli(['task', 'credential', 'add', '-n', 'hello-world', '-r', 'contoso', '--login-server', publicRegistry.host, '-u', `https://${akv}.vault.azure.net/secrets/registry-publicregistry-user`, '-p', `https://${akv}.vault.azure.net/secrets/registry-publicregistry-password`, '--use-identity', '[system]']);

    // An AcrPull token for node on the base-artifacts registry, as secrets on contoso.
    const password = (await cli(['token', 'create', '--name', 'registry-contosobaseartifacts-user', '--registry', 'contosobaseartifacts', '--repository', 'node', 'content/read', '-o', 'tsv', '--query', 'credentials.passwords[0].value'])).stdout.trim();
    await cli(['secret', 'set', '-r', 'contoso', '--name', 'registry-contosobaseartifacts-user', '--value', 'registry-contosobaseartifacts-user']);
    await cli(['secret', 'set', '-r', 'contoso', '--name', 'registry-contosobaseartifacts-password', '--value-stdin'], { input: password });
    await cli(['task', 'credential', 'add', '-n', 'hello-world', '-r', 'contoso', '--login-server', baseArtifacts.host, '-u', `https://${akv}.vault.azure.net/secrets/registry-contosobaseartifacts-user`, '-p', `https://${akv}.vault.azure.net/secrets/registry-contosobaseartifacts-password`, '--use-identity', '[system]']);
    await cli(['task', 'update', '-n', 'hello-world', '-r', 'contoso', '--set', `KEYVAULT=${akv}`, '--set', `REGISTRY_FROM_URL=${baseArtifacts.host}/`, '--set', 'ACI=hello-world-aci', '--set', 'ACI_RG=hello-world-aci-rg']);
    await cli(['task', 'run', '-r', 'contoso', '-n', 'hello-world']);

    const page = await fileInImage(`${contoso.host}/hello-world:latest`, '/www/index.html');
    assert.match(page, /background:Blue/);
    // Its base is now the gated one only, and the poller watches it.
    const bases = await polledAfter(contoso, 'contoso', 'hello-world', Date.now());
    assert.deepEqual(bases.map((b) => `${b.registry}/${b.repository}:${b.tag}`), [`${baseArtifacts.host}/node:15-alpine`]);
  });

  it('a good change (Green) flows through all three registries automatically', async () => {
    await polledAfter(baseArtifacts, 'contosobaseartifacts', 'base-import-node', Date.now());
    const commit = await commitColor('Green');
    const [publicRun] = await waitForTriggeredRuns(publicRegistry, 'node-public', 'Commit', 1);
    await assertSucceeded(publicRegistry, publicRun!);
    assert.equal(publicRun!.sourceTrigger?.commit, commit);
    const [, importRun] = await waitForTriggeredRuns(baseArtifacts, 'base-import-node', 'Image Update', 1).then((runs) => [null, runs[0]] as const);
    await assertSucceeded(baseArtifacts, importRun!);
    const green = await tagDigest(publicRegistry, 'node', '15-alpine');
    assert.equal(await tagDigest(baseArtifacts, 'node', '15-alpine'), green);
    assert.equal(await tagDigest(baseArtifacts, 'node', `15-alpine-${importRun!.id}`), green, 'the run-unique tag for rollback');
    const [helloRun] = await waitForTriggeredRuns(contoso, 'hello-world', 'Image Update', 1);
    await assertSucceeded(contoso, helloRun!);
    assert.deepEqual(helloRun!.imageUpdateTrigger!.images.map((i) => `${i.registry}/${i.repository}:${i.tag}@${i.digest}`), [`${baseArtifacts.host}/node:15-alpine@${green}`]);
    assert.match(await fileInImage(`${contoso.host}/hello-world:latest`, '/www/index.html'), /background:Green/);
  });

  it('a bad change (Red) stops at the gate: hello-world keeps its last good base', async () => {
    const goodBase = await tagDigest(baseArtifacts, 'node', '15-alpine');
    const goodHello = await tagDigest(contoso, 'hello-world', 'latest');
    await commitColor('Red');
    const publicRuns = await waitForTriggeredRuns(publicRegistry, 'node-public', 'Commit', 2);
    await assertSucceeded(publicRegistry, publicRuns[1]!);
    const importRuns = await waitForTriggeredRuns(baseArtifacts, 'base-import-node', 'Image Update', 2);
    const gated = importRuns[1]!;
    assert.equal(gated.status, 'Failed');
    const steps = Object.fromEntries(gated.steps.map((s) => [s.id, `${s.status}${s.exitCode === null ? '' : `:${s.exitCode}`}`]));
    assert.equal(steps['validate-base-image'], 'Failed:1');
    assert.equal(steps['push-base-image'], 'Skipped');
    const log = await (await fetch(`${baseArtifacts.url}/api/v1/runs/${gated.id}/logs`, { headers: { Authorization: `Basic ${Buffer.from(`admin:${adminCredentials.password}`).toString('base64')}` } })).text();
    assert.match(log, /ERROR: Invalid Color:.* Red/);
    assert.equal(await tagDigest(baseArtifacts, 'node', '15-alpine'), goodBase, 'the gated base is still the good one');

    // contoso polls the gated base again and again after the failed import: nothing runs.
    const failedAt = Date.parse(gated.finishedAt ?? new Date().toISOString());
    await polledAfter(contoso, 'contoso', 'hello-world', failedAt);
    await polledAfter(contoso, 'contoso', 'hello-world', Date.now());
    assert.deepEqual(await triggerCounts(contoso, 'hello-world'), { Manual: 1, 'Image Update': 1 });
    assert.equal(await tagDigest(contoso, 'hello-world', 'latest'), goodHello);
    assert.match(await fileInImage(`${contoso.host}/hello-world:latest`, '/www/index.html'), /background:Green/);
  });

  it('list-runs on each registry shows the triggers', async () => {
    assert.deepEqual(await triggerCounts(publicRegistry, 'node-public'), { Manual: 1, Commit: 2 });
    assert.deepEqual(await triggerCounts(baseArtifacts, 'base-import-node'), { Manual: 1, 'Image Update': 2 });
    const expectations: Array<[string, string, string[]]> = [
      ['publicregistry', 'node-public', ['Succeeded\\s+Commit', 'Succeeded\\s+Commit', 'Succeeded\\s+Manual']],
      ['contosobaseartifacts', 'base-import-node', ['Failed\\s+Image Update', 'Succeeded\\s+Image Update', 'Succeeded\\s+Manual']],
      ['contoso', 'hello-world', ['Succeeded\\s+Image Update', 'Succeeded\\s+Manual']],
    ];
    for (const [registry, task, rows] of expectations) {
      const table = (await cli(['task', 'list-runs', '-r', registry])).stdout;
      assert.match(table, /RUN ID\s+TASK\s+PLATFORM\s+STATUS\s+TRIGGER\s+STARTED\s+DURATION/);
      const lines = table.split('\n').filter((l) => l.includes(` ${task} `));
      assert.equal(lines.length, rows.length, table);
      rows.forEach((row, i) => assert.match(lines[i]!, new RegExp(`${task}\\s+linux/amd64\\s+${row}\\s`), table));
    }
    assert.equal((await runsOf(contoso, 'hello-world')).length, 2);
  });
});
