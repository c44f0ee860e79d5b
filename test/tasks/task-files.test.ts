import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { adminCredentials, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { run } from '../helpers/commands.js';
import { ensureBusyboxImage } from '../helpers/fixtures.js';
import { api } from '../helpers/management.js';
import { berthCliAsync, leftovers } from '../helpers/task-helpers.js';
import { seed001ImportTask } from '../helpers/seed-files.js';

let berth: BerthProcess;
let upstream: BerthProcess;
const configDir = tempDir('taskfile-cli');
process.env.DOCKER_CONFIG = join(tempDir('taskfile-docker'), 'docker');

interface RunView {
  id: string;
  status: string;
  error: string | null;
  outputImages: Array<{ repository: string; tag: string; digest: string }>;
  steps: Array<{ id: string; status: string; exitCode: number | null }>;
}

function berthCli(args: string[], input?: string) {
  return berthCliAsync(configDir, args, input);
}

async function runFile(yaml: string, extra: string[] = [], context?: string): Promise<{ status: number | null; stdout: string; stderr: string; run: RunView | null }> {
  const folder = context ?? tempDir('taskfile');
  writeFileSync(join(folder, 'acr-task.yaml'), yaml);
  const result = await berthCli(['run', '-f', 'acr-task.yaml', ...extra, folder]);
  const id = /Queued a run with ID: (cb\d+)/.exec(result.stdout)?.[1];
  const record = id ? (await api<RunView>(berth.url, adminCredentials, 'GET', `/api/v1/runs/${id}`)).body : null;
  return { ...result, run: record };
}

function stepStatus(record: RunView): Record<string, string> {
  return Object.fromEntries(record.steps.map((s) => [s.id, `${s.status}${s.exitCode !== null ? `:${s.exitCode}` : ''}`]));
}


before(async () => {
  berth = await startBerth();
  await ensureBusyboxImage();
  assert.equal((await berthCli(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
});
after(async () => {
  await berth?.stop();
  await upstream?.stop();
});

const image = 'berth-fixture/busybox:1';

describe('task files (berth run -f)', () => {
  it('parallel branches, when, a detached service reached by its id, ignoreErrors and exitedWith/exitedWithout', async () => {
    const { status, stdout, run: record } = await runFile(`version: v1.1.0
steps:
  - id: web
    cmd: ${image} sh -c "echo served-by-web > /workspace/index.html && busybox httpd -f -p 8080 -h /workspace"
    detach: true
  - id: probe
    when: ["web"]
    cmd: ${image} sh -c "until busybox wget -qO- http://web:8080/index.html; do sleep 0.2; done"
    timeout: 120
  - id: left
    when: ["-"]
    cmd: ${image} sh -c "echo left says {{.Values.who}}"
  - id: test
    when: ["probe", "left"]
    cmd: ${image} sh -c "exit 4"
    ignoreErrors: true
  - id: on-failure
    when: ["test"]
    exitedWith: [4]
    cmd: ${image} echo failure-branch-ran
  - id: on-success
    when: ["test"]
    exitedWithout: [4]
    cmd: ${image} echo must-not-run
`, ['--set', 'who=world']);
    assert.equal(status, 0, stdout);
    assert.match(stdout, /served-by-web/);
    assert.match(stdout, /left says world/);
    assert.match(stdout, /failure-branch-ran/);
    assert.ok(!stdout.includes('must-not-run'));
    assert.deepEqual(stepStatus(record!), {
      web: 'Succeeded:0', probe: 'Succeeded:0', left: 'Succeeded:0', test: 'Succeeded:4', 'on-failure': 'Succeeded:0', 'on-success': 'Skipped',
    });
    // "left" started at once, without waiting for web/probe
    assert.ok(stdout.indexOf('Executing step ID: left') < stdout.indexOf('Executing step ID: probe'));
    assert.equal(await leftovers(berth), '', 'the detached service is removed when the run ends');
  });

  it('retries, repeat and a failing step that stops the run', async () => {
    const { status, stdout, run: record } = await runFile(`version: v1.1.0
steps:
  - id: flaky
    cmd: ${image} sh -c "test -f /workspace/marker && echo second-try-ok || { echo first-try > /workspace/marker; exit 1; }"
    retries: 2
    retryDelay: 0
  - id: repeated
    cmd: ${image} sh -c "echo x >> /workspace/count"
    repeat: 2
  - id: counted
    cmd: ${image} sh -c "n=0; while read l; do n=$((n+1)); done < /workspace/count; echo count=$n"
  - id: broken
    cmd: ${image} sh -c "exit 9"
  - id: never
    cmd: ${image} echo never
`);
    assert.equal(status, 1);
    assert.match(stdout, /retrying \(1\/2\)/);
    assert.match(stdout, /second-try-ok/);
    assert.match(stdout, /count=3/);
    assert.deepEqual(stepStatus(record!), { flaky: 'Succeeded:0', repeated: 'Succeeded:0', counted: 'Succeeded:0', broken: 'Failed:9', never: 'Skipped' });
    assert.equal(record!.status, 'Failed');
  });

  it('secrets never show in the log; a step timeout fails the step; unknown keys are warned about', async () => {
    const { status, stdout, run: record } = await runFile(`version: v1.1.0
flavour: extra
steps:
  - id: secret
    cmd: ${image} sh -c "echo token={{.Secrets.token}}"
    colour: blue
  - id: slow
    cmd: ${image} sleep 30
    timeout: 2
`, ['--set-secret', 'token=very-secret-value-42']);
    assert.equal(status, 1);
    assert.match(stdout, /token=\*\*\*/);
    assert.ok(!stdout.includes('very-secret-value-42'));
    assert.match(stdout, /Warning: unknown key "flavour" ignored/);
    assert.match(stdout, /Warning: step "secret": unknown key "colour" ignored/);
    assert.match(record!.error ?? '', /timed out after 2s/);
    const log = await (await fetch(`${berth.url}/api/v1/runs/${record!.id}/logs`, { headers: { Authorization: `Basic ${Buffer.from(`admin:${adminCredentials.password}`).toString('base64')}` } })).text();
    assert.ok(!log.includes('very-secret-value-42'));
    assert.equal(await leftovers(berth), '');
  });

  it('template and structure errors come back before anything runs, with line and column', async () => {
    const template = await runFile('version: v1.1.0\nsteps:\n  - cmd: x {{ range .Values.list }}{{ end }}\n');
    assert.equal(template.status, 1);
    assert.match(template.stderr, /line 3, column 12: "range" is not supported/);
    assert.equal(template.run, null, 'no run was queued');
    const missing = await runFile('version: v1.1.0\nsteps:\n  - cmd: x {{.Values.nope}}\n');
    assert.match(missing.stderr, /no value for \.Values\.nope/);
    const cycle = await runFile('steps:\n  - id: a\n    when: ["b"]\n    cmd: x\n  - id: b\n    when: ["a"]\n    cmd: y\n');
    assert.match(cycle.stderr, /cycle/);
    const twoTypes = await runFile('steps:\n  - cmd: x\n    push: ["y"]\n');
    assert.match(twoTypes.stderr, /exactly one of build, cmd or push/);
  });
});

describe('aliases, networks and step options', () => {
  it('alias values and $$, a declared network reachable only by its steps, configured image aliases, keep and expose', async (t) => {
    const configFile = join(tempDir('alias-config'), 'berth.yaml');
    writeFileSync(configFile, `taskImageAliases:\n  bb: ${image}\n`);
    const server = await startBerth({ args: ['--config', configFile], t });
    const aliasConfigDir = tempDir('alias-cli');
    assert.equal((await berthCliAsync(aliasConfigDir, ['login', server.url, '-u', 'admin', '-p', adminCredentials.password])).status, 0);
    const folder = tempDir('alias-task');
    writeFileSync(join(folder, 'acr-task.yaml'), `version: v1.1.0
alias:
  values:
    greeting: hello-from-alias
    img: ${image}
networks:
  - name: backend
steps:
  - id: db
    cmd: $img sh -c "echo data-on-backend > /workspace/db.txt && busybox httpd -f -p 9000 -h /workspace"
    detach: true
    network: backend
    expose: ["9000"]
  - id: client
    cmd: bb sh -c "until busybox wget -qO- http://db:9000/db.txt; do sleep 0.2; done"
    timeout: 120
    network: backend
    keep: true
  - id: outsider
    cmd: bb sh -c "busybox wget -qO- -T 2 http://db:9000/db.txt || echo db-unreachable"
  - id: words
    cmd: bb echo $greeting costs $$5 in run $ID
`);
    const result = await berthCliAsync(aliasConfigDir, ['run', '-f', 'acr-task.yaml', folder]);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /data-on-backend/);
    assert.match(result.stdout, /db-unreachable/);
    assert.match(result.stdout, /hello-from-alias costs \$5 in run cb\d+/);
    assert.equal(await leftovers(server), '', 'kept containers and declared networks go with the run');
    const undeclared = await berthCliAsync(aliasConfigDir, ['run', '--cmd', 'x', '/dev/null']);
    assert.equal(undeclared.status, 1);
    writeFileSync(join(folder, 'bad.yaml'), 'steps:\n  - cmd: x\n    network: nowhere\n');
    const bad = await berthCliAsync(aliasConfigDir, ['run', '-f', 'bad.yaml', folder]);
    assert.match(bad.stderr, /network "nowhere", which networks does not declare/);
  });
});

describe('more step options', () => {
  it('--build-arg NAME takes the step env (never the agent\'s); retryOnErrors; cpus', async () => {
    const context = tempDir('step-options');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nARG GREETING\nARG BERTH_ADMIN_PASSWORD\nRUN echo "g=$GREETING p=[$BERTH_ADMIN_PASSWORD]" > /out\n`);
    const { status, stdout } = await runFile(`version: v1.1.0
env: ["GREETING=from-task-env"]
steps:
  - build: -t berth-step-args:{{.Run.ID}} --build-arg GREETING --build-arg BERTH_ADMIN_PASSWORD --label team=core .
    env: ["GREETING=from-step-env"]
  - cmd: berth-step-args:{{.Run.ID}} cat /out
  - id: glitchy
    cmd: ${image} sh -c "echo transient-glitch; exit 3"
    retries: 2
    retryDelay: 0
    retryOnErrors: ["transient"]
    ignoreErrors: true
  - id: broken
    cmd: ${image} sh -c "echo hard-failure; exit 4"
    retries: 2
    retryDelay: 0
    retryOnErrors: ["transient"]
    ignoreErrors: true
  - id: limited
    cmd: ${image} sh -c "cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us"
    cpus: 0.5
`, [], context);
    assert.equal(status, 0, stdout);
    assert.match(stdout, /g=from-step-env p=\[\]/);
    assert.equal(stdout.match(/Step ID: glitchy exited with 3; retrying/g)?.length, 2);
    assert.match(stdout, /Step ID: broken exited with 4; its output has none of retryOnErrors, so no retry/);
    assert.ok(!/Step ID: broken exited with 4; retrying/.test(stdout));
    assert.match(stdout, /^50000\b/m);
  });
});

describe('the docker built-in', () => {
  it('works through the run\'s engine proxy, and whatever its docker CLI creates goes with the run', async () => {
    const { status, stdout, run: record } = await runFile(`version: v1.1.0
steps:
  - cmd: docker tag ${image} run-made/thing:{{.Run.ID}}
  - cmd: docker run -d --network none --name svc-{{.Run.ID}} ${image} sleep 300
  - cmd: docker network create net-{{.Run.ID}}
  - cmd: docker volume create vol-{{.Run.ID}}
  - cmd: docker run --rm --network none ${image} echo hello-through-the-proxy
`);
    assert.equal(status, 0, stdout);
    assert.match(stdout, /hello-through-the-proxy/);
    const id = record!.id;
    assert.equal((await run('docker', ['images', '-q', `run-made/thing:${id}`])).trim(), '', 'the tag the run made is gone');
    assert.equal((await run('docker', ['ps', '-aq', '--filter', `name=svc-${id}`])).trim(), '', 'the container it started is gone');
    assert.equal((await run('docker', ['network', 'ls', '-q', '--filter', `name=net-${id}`])).trim(), '');
    assert.equal((await run('docker', ['volume', 'ls', '-q', '--filter', `name=vol-${id}`])).trim(), '');
    assert.notEqual((await run('docker', ['images', '-q', image])).trim(), '', 'images the engine already had stay');
    assert.equal(await leftovers(berth), '');
  });
});

describe('alias src files', () => {
  it('loads src files from the context and from URLs with ACR\'s precedence; their aliases also name cmd images', async (t) => {
    const server = createServer((request, response) => {
      if (request.url === '/team-aliases.yaml') return void response.end('who: remote-who\nwhere: remote-where\n');
      response.writeHead(404).end('no such alias file');
    });
    t.after(async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const remote = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const context = tempDir('alias-src');
    mkdirSync(join(context, 'aliases'));
    writeFileSync(join(context, 'aliases', 'base.yaml'), `greeting: from-file\nwho: file-who\nwhere: file-where\nbb: ${image}\n`);
    const { status, stdout } = await runFile(`version: v1.1.0
alias:
  src:
    - aliases/base.yaml
    - ${remote}/team-aliases.yaml
  values:
    greeting: inline-wins
steps:
  - cmd: bb sh -c "echo aliases=$greeting,$who,$where"
`, [], context);
    assert.equal(status, 0, stdout);
    assert.match(stdout, /aliases=inline-wins,remote-who,remote-where/);
    const missing = await runFile(`version: v1.1.0\nalias:\n  src:\n    - ${remote}/gone.yaml\nsteps:\n  - cmd: ${image} true\n`);
    assert.equal(missing.status, 1);
    assert.match(missing.run!.error ?? '', /alias src .*gone\.yaml could not be fetched: 404/);
    const notInContext = await runFile(`version: v1.1.0\nalias:\n  src:\n    - aliases/none.yaml\nsteps:\n  - cmd: ${image} true\n`);
    assert.match(notInContext.run!.error ?? '', /alias src "aliases\/none\.yaml" is not in the source context/);
  });
});

describe('secret volumes', () => {
  it('a build step sees a volume mounted inside its context; the workspace itself never holds it', async () => {
    const context = tempDir('build-volume');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nCOPY secrets/token.txt /token.txt\n`);
    const { status, stdout } = await runFile(`version: v1.1.0
volumes:
  - name: creds
    secret:
      token.txt: ${Buffer.from('build-secret-value-5').toString('base64')}
steps:
  - id: build
    build: -t berth-test-volume-build:{{.Run.ID}} .
    volumeMounts:
      - name: creds
        mountPath: /workspace/secrets
  - cmd: berth-test-volume-build:{{.Run.ID}} sha256sum /token.txt
  - cmd: ${image} sh -c "test -e /workspace/secrets/token.txt && echo leaked || echo workspace-clean"
`, [], context);
    assert.equal(status, 0, stdout);
    assert.match(stdout, new RegExp(createHash('sha256').update('build-secret-value-5').digest('hex')));
    assert.match(stdout, /workspace-clean/);
    assert.ok(!stdout.includes('build-secret-value-5'));
  });


  it('volumes with base64 secret files are mounted where volumeMounts say; their contents are masked', async () => {
    const encoded = Buffer.from('db-password-value-7').toString('base64');
    const { status, stdout } = await runFile(`version: v1.1.0
volumes:
  - name: creds
    secret:
      password.txt: ${encoded}
steps:
  - cmd: ${image} sh -c "ls /run/creds; cat /run/creds/password.txt; echo"
    volumeMounts:
      - name: creds
        mountPath: /run/creds
`);
    assert.equal(status, 0, stdout);
    assert.match(stdout, /password\.txt/);
    assert.match(stdout, /\*\*\*/);
    assert.ok(!stdout.includes('db-password-value-7'));
    assert.equal(await leftovers(berth), '', 'the secret volume goes with the run');
    const undeclared = await runFile('version: v1.1.0\nsteps:\n  - cmd: x\n    volumeMounts:\n      - name: nope\n        mountPath: /x\n');
    assert.match(undeclared.stderr, /mounts volume "nope", which volumes does not declare/);
  });
});

describe('seed 001: gated import of a public base image', () => {
  const seedTask = seed001ImportTask;

  async function publishUpstream(testExitCode: number): Promise<string> {
    // The "public" registry: node:15-alpine (a busybox stand-in) whose test passes or fails.
    const context = tempDir('upstream-base');
    writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nRUN echo "exit ${testExitCode}" > /bin/node-test && chmod +x /bin/node-test\n`);
    const tag = `${upstream.host}/node:15-alpine`;
    await run('docker', ['build', '--network', 'none', '-t', tag, context], { env: { DOCKER_BUILDKIT: '0' } });
    const pushed = await run('docker', ['push', tag]);
    await run('docker', ['rmi', tag]);
    return /digest: (sha256:[a-f0-9]{64})/.exec(pushed)![1]!;
  }

  it('a good upstream flows in with a stable and a run-unique tag; a bad one stops the chain', async (t) => {
    upstream = await startBerth({ env: { BERTH_ADMIN_PASSWORD: 'upstream-pw' }, t });
    await api(upstream.url, { username: 'admin', password: 'upstream-pw' }, 'PATCH', '/api/v1/settings', { anonymousPullEnabled: true });
    await run('docker', ['login', upstream.host, '-u', 'admin', '--password-stdin'], { input: 'upstream-pw' });
    const context = tempDir('seed001');
    mkdirSync(join(context, 'test'), { recursive: true });
    writeFileSync(join(context, 'Dockerfile'), 'ARG REGISTRY_FROM_URL\nFROM ${REGISTRY_FROM_URL}node:15-alpine\nCMD ["sh", "-c", "echo validating the base image; node-test"]\n');
    const values = ['--set', `REGISTRY_FROM_URL=${upstream.host}/`];

    const good = await publishUpstream(0);
    const first = await runFile(seedTask, values, context);
    assert.equal(first.status, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /validating the base image/);
    const id = first.run!.id;
    assert.deepEqual(first.run!.outputImages.map((i) => `${i.repository}:${i.tag}@${i.digest}`).sort(), [`node:15-alpine-${id}@${good}`, `node:15-alpine@${good}`]);

    await publishUpstream(1);
    const second = await runFile(seedTask, values, context);
    assert.equal(second.status, 1);
    assert.equal(stepStatus(second.run!)['validate-base-image'], 'Failed:1');
    assert.equal(stepStatus(second.run!)['push-base-image'], 'Skipped');
    const stable = await fetch(`${berth.url}/v2/node/manifests/15-alpine`, {
      method: 'HEAD',
      headers: { Authorization: `Basic ${Buffer.from(`admin:${adminCredentials.password}`).toString('base64')}`, Accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    assert.equal(stable.headers.get('docker-content-digest'), good, 'the last good base is kept');
    assert.equal(await leftovers(berth), '');
  });
});
