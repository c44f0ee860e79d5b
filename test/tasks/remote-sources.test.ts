import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { api } from '../helpers/management.js';
import { createRepository, startGitServer, type GitServer } from '../helpers/git-server.js';
import { berthCliAsync, leftovers, publishBaseImage, runRecord as taskRunRecord } from '../helpers/task-helpers.js';

const gitToken = 'ghp_berthTestToken0123456789';
const configDir = tempDir('sources-cli');
process.env.DOCKER_CONFIG = join(tempDir('sources-docker'), 'docker');
let berth: BerthProcess;
let git: GitServer;
let app: { commit: string; extraCommit?: string };
let privateApp: { commit: string };


const cli = (args: string[]) => berthCliAsync(configDir, args);
const runIdOf = (stdout: string) => /Queued a run with ID: (cb\d+)/.exec(stdout)![1]!;
const runRecord = (id: string) => taskRunRecord(berth, id);
const imageFile = async (image: string, path: string) => (await run('docker', ['run', '--rm', '--network', 'none', image, 'cat', path])).trim();

before(async () => {
  berth = await startBerth();
  const base = await publishBaseImage(berth);
  assert.equal((await cli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
  git = await startGitServer(gitToken);
  const dockerfile = `FROM ${base}\nARG COMMIT=none\nCOPY message.txt /message.txt\nRUN echo "$COMMIT" > /commit\n`;
  const taskFile = `version: v1.1.0
steps:
  - cmd: berth-fixture/busybox:1 sh -c "echo branch=[{{.Run.Branch}}] commit=[{{.Run.Commit}}]; cat docker/message.txt"
`;
  app = await createRepository(git, 'app', 'main', { 'docker/Dockerfile': dockerfile, 'docker/message.txt': 'from main\n', 'acr-task.yaml': taskFile }, { name: 'feature', files: { 'docker/message.txt': 'from feature\n' } });
  privateApp = await createRepository(git, 'private-app', 'main', { 'Dockerfile': dockerfile, 'message.txt': 'private source\n', 'acr-task.yaml': taskFile.replace('docker/message.txt', 'message.txt') });
  // A tarball context, as a release asset or a CI artifact would be.
  const folder = tempDir('tarball-src');
  writeFileSync(join(folder, 'Dockerfile'), dockerfile);
  writeFileSync(join(folder, 'message.txt'), 'from a tarball\n');
  mkdirSync(join(git.root, 'files'));
  await run('tar', ['-czf', join(git.root, 'files', 'context.tar.gz'), '-C', folder, '.']);
});
after(async () => {
  await git.close();
  await berth.stop();
});

describe('git and tarball contexts', () => {
  it('builds from a git URL at a branch and folder; .Run.Commit and .Run.Branch are the source\'s', async () => {
    const result = await cli(['build', '-t', 'src/app:{{.Run.Branch}}-{{.Run.ID}}', '--build-arg', 'COMMIT={{.Run.Commit}}', `${git.url}/git/app.git#feature:docker`]);
    assert.equal(result.status, 0, result.stderr + result.stdout);
    const id = runIdOf(result.stdout);
    assert.match(result.stdout, new RegExp(`Source at commit ${app.extraCommit} \\(branch feature\\)`));
    const record = await runRecord(id);
    assert.deepEqual(record.outputImages.map((i) => `${i.repository}:${i.tag}`), [`src/app:feature-${id}`]);
    const image = `${berth.host}/src/app:feature-${id}`;
    await run('docker', ['pull', image]);
    assert.equal(await imageFile(image, '/message.txt'), 'from feature');
    assert.equal(await imageFile(image, '/commit'), app.extraCommit);
  });

  it('runs a task file from the repository (-f names a file in the source), at the default branch and at a commit', async () => {
    const atHead = await cli(['run', '-f', 'acr-task.yaml', `${git.url}/git/app.git`]);
    assert.equal(atHead.status, 0, atHead.stderr + atHead.stdout);
    assert.match(atHead.stdout, new RegExp(`branch=\\[main\\] commit=\\[${app.commit}\\]`));
    assert.match(atHead.stdout, /from main/);
    const atCommit = await cli(['run', '-f', 'acr-task.yaml', `${git.url}/git/app.git#${app.extraCommit}`]);
    assert.equal(atCommit.status, 0, atCommit.stderr + atCommit.stdout);
    assert.match(atCommit.stdout, new RegExp(`branch=\\[\\] commit=\\[${app.extraCommit}\\]`), 'a commit checkout has no branch');
    assert.match(atCommit.stdout, /from feature/);
    const missing = await cli(['run', '-f', 'nope.yaml', `${git.url}/git/app.git`]);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr + missing.stdout, /the source has no file "nope\.yaml"/);
  });

  it('a private repository needs --git-access-token, which never shows in the log', async () => {
    const url = `${git.url}/git/private-app.git`;
    const refused = await cli(['build', '-t', 'src/private:1', url]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr + refused.stdout, /git clone failed: .*(Authentication failed|could not read Username|401)/);
    const requestsBefore = git.requests.length;
    const built = await cli(['build', '-t', 'src/private:1', '--build-arg', 'COMMIT={{.Run.Commit}}', '--git-access-token', gitToken, url]);
    assert.equal(built.status, 0, built.stderr + built.stdout);
    assert.ok(git.requests.slice(requestsBefore).some((r) => r.endsWith(' auth')), 'the clone authenticated');
    const log = await cli(['task', 'logs', '--run-id', runIdOf(built.stdout)]);
    assert.ok(!built.stdout.includes(gitToken) && !log.stdout.includes(gitToken));
    await run('docker', ['pull', `${berth.host}/src/private:1`]);
    assert.equal(await imageFile(`${berth.host}/src/private:1`, '/commit'), privateApp.commit);

    // A task keeps the token sealed and uses it on every run; show never returns it.
    const created = await cli(['task', 'create', '-n', 'private-git-task', '--file', 'acr-task.yaml', '--context', url, '--git-access-token', gitToken, '-o', 'json']);
    assert.equal(created.status, 0, created.stderr);
    assert.ok(!created.stdout.includes(gitToken));
    const shown = await cli(['task', 'show', '-n', 'private-git-task', '-o', 'json']);
    assert.equal(JSON.parse(shown.stdout).contextUrl, url);
    assert.ok(!shown.stdout.includes(gitToken));
    const taskRun = await cli(['task', 'run', '-n', 'private-git-task']);
    assert.equal(taskRun.status, 0, taskRun.stderr + taskRun.stdout);
    assert.match(taskRun.stdout, /private source/);
    assert.match(taskRun.stdout, new RegExp(`commit=\\[${privateApp.commit}\\]`));
  });

  it('a task file build step may take a git URL as its context', async () => {
    const folder = tempDir('step-git');
    writeFileSync(join(folder, 'acr-task.yaml'), `version: v1.1.0
steps:
  - build: -t src/step-git:{{.Run.ID}} ${git.url}/git/app.git#feature:docker
  - cmd: src/step-git:{{.Run.ID}} cat /message.txt
`);
    const result = await cli(['run', '-f', 'acr-task.yaml', folder]);
    assert.equal(result.status, 0, result.stderr + result.stdout);
    assert.match(result.stdout, /Cloning .*app\.git at feature/);
    assert.match(result.stdout, /from feature/);
  });

  it('builds from a tarball URL', async () => {
    const result = await cli(['build', '-t', 'src/tarball:1', `${git.url}/files/context.tar.gz`]);
    assert.equal(result.status, 0, result.stderr + result.stdout);
    await run('docker', ['pull', `${berth.host}/src/tarball:1`]);
    assert.equal(await imageFile(`${berth.host}/src/tarball:1`, '/message.txt'), 'from a tarball');
    const gone = await cli(['build', '-t', 'src/tarball:2', `${git.url}/files/missing.tar.gz`]);
    assert.equal(gone.status, 1);
    assert.match(gone.stderr + gone.stdout, /downloading the context failed: 404/);
    assert.equal(await leftovers(berth), '');
  });

  it('bad context URLs are refused when the run is submitted', async () => {
    const submit = (contextUrl: string) => api<{ errors: Array<{ code: string; message: string }> }>(berth.url, adminCredentials, 'POST', '/api/v1/runs', { type: 'build', tags: ['x:1'], contextUrl });
    for (const [url, message] of [
      ['https://user:pass@git.example/org/repo.git', /--git-access-token, not in the context URL/],
      ['https://git.example/org/repo.git#main:../../etc', /leaves the repository/],
      ['ftp://git.example/org/repo.git', /http\(s\) or git/],
      ['https://git.example/org/repo.git#-bad', /invalid git reference/],
    ] as const) {
      const response = await submit(url);
      assert.equal(response.status, 400, url);
      assert.equal(response.body.errors[0]!.code, 'INVALID_REQUEST');
      assert.match(response.body.errors[0]!.message, message);
    }
    const noToken = await cli(['build', '-t', 'x:1', '--git-access-token', 'abc', tempDir('plain-folder')]);
    assert.equal(noToken.status, 1);
    assert.match(noToken.stderr, /--git-access-token goes with a git context URL/);
  });
});
