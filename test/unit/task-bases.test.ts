import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import { basesOfTask, type TaskDefinitionInput } from '../../src/triggers/task-bases.js';
import { formatImageReference } from '../../src/triggers/image-reference.js';
import { archiveFileReader, packContext } from '../../src/tasks/sources/context-archive.js';
import { fetchSource, parseSourceLocation } from '../../src/tasks/sources/remote-source.js';
import { EgressPolicy } from '../../src/network/egress.js';
import { tempDir } from '../helpers/berth-process.js';
import { createRepository, startGitServer, type GitServer } from '../helpers/git-server.js';

const registryHost = 'registry.example:5443';

function task(overrides: Partial<TaskDefinitionInput>): TaskDefinitionInput {
  return { name: 't', kind: 'file', dockerfile: null, buildArgs: {}, taskFile: null, values: {}, platform: 'linux/amd64', ...overrides };
}

function writeFiles(folder: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(folder, path)), { recursive: true });
    writeFileSync(join(folder, path), text);
  }
}

/** A context archive as `berth build` uploads it and the context store keeps it. */
async function contextArchive(files: Record<string, string>): Promise<string> {
  const folder = tempDir('bases-context');
  writeFiles(folder, files);
  const file = join(tempDir('bases-archive'), 'context.tar');
  await pipeline(packContext(folder), createWriteStream(file));
  return file;
}

const flat = (bases: { runtime: Array<Parameters<typeof formatImageReference>[0]>; buildtime: Array<Parameters<typeof formatImageReference>[0]> }) => ({
  runtime: bases.runtime.map(formatImageReference),
  buildtime: bases.buildtime.map(formatImageReference),
});

const folderReader = (folder: string) => (path: string) => readFile(join(folder, path), 'utf8').catch(() => null);

describe('basesOfTask', () => {
  it('a build task: its Dockerfile with its build args, {{.Run.Registry}} being this registry', async () => {
    const folder = tempDir('bases-build');
    writeFiles(folder, { 'docker/Dockerfile.app': 'ARG BASE=alpine\nFROM golang:1.22 AS build\nFROM ${BASE}\n' });
    const bases = await basesOfTask(task({ kind: 'build', dockerfile: 'docker/Dockerfile.app', buildArgs: { BASE: '{{.Run.Registry}}/base:latest' } }), { registryHost, readFile: folderReader(folder) });
    assert.deepEqual(flat(bases), { runtime: [`${registryHost}/base:latest`], buildtime: ['docker.io/library/golang:1.22'] });
    assert.deepEqual(bases.problems, []);
  });

  // -f is a path inside the step's context, as the engine takes it (the executor passes it on so).
  it('a task file in an uploaded context: build steps with -f, subfolder contexts, --target, --build-arg and working directories', async () => {
    const taskFile = `version: v1.1.0
steps:
  - id: base
    build: -t {{.Run.Registry}}/team/base:{{.Run.ID}} -f Dockerfile.base base
  - id: app
    workingDirectory: services
    build: >-
      -t {{.Run.Registry}}/team/app:{{.Run.ID}}
      --build-arg BASE={{.Run.Registry}}/team/base:{{.Run.ID}}
      --build-arg TOOLS=$TOOLS
      --target release
      -f app/Dockerfile .
    env: ['TOOLS=ignored-by-the-shell-here']
  - id: test
    build: -t tests --build-arg RUNTIME={{.Values.runtime}} tests
  - cmd: '{{.Run.Registry}}/team/app:{{.Run.ID}} echo built'
`;
    const archive = await contextArchive({
      'base/Dockerfile.base': '# the team base\nFROM debian:12-slim\n',
      'services/app/Dockerfile': 'ARG BASE\nFROM node:20 AS deps\nFROM ${BASE} AS release\nFROM scratch AS never-built\n',
      'tests/Dockerfile': `ARG RUNTIME\nFROM \${RUNTIME}\n`,
    });
    const bases = await basesOfTask(task({ taskFile, values: { runtime: 'mcr.microsoft.com/dotnet/runtime:8.0' } }), { registryHost, readFile: archiveFileReader(async () => createReadStream(archive)) });
    // team/base is built by the first step, so the app step's runtime base is the run's own product.
    assert.deepEqual(flat(bases), {
      runtime: ['docker.io/library/debian:12-slim', 'mcr.microsoft.com/dotnet/runtime:8.0'],
      buildtime: ['docker.io/library/node:20'],
    });
    assert.deepEqual(bases.problems, []);
  });

  it('a task file read from the source by its path (-f with a remote context), and alias src files', async () => {
    const archive = await contextArchive({
      'ci/acr-task.yaml': 'version: v1.1.0\nalias:\n  src:\n    - ci/aliases.yaml\nsteps:\n  - build: -t app -f Dockerfile .\n    env: []\n  - build: --build-arg IMG=$base -t other -f other.Dockerfile .\n',
      'ci/aliases.yaml': 'base: registry.example:5443/base:3\n',
      Dockerfile: 'FROM busybox:1.36\n',
      'other.Dockerfile': 'ARG IMG\nFROM $IMG\n',
    });
    const bases = await basesOfTask(task({ taskFilePath: 'ci/acr-task.yaml' }), { registryHost, readFile: archiveFileReader(async () => createReadStream(archive)) });
    assert.deepEqual(flat(bases), { runtime: ['docker.io/library/busybox:1.36', 'registry.example:5443/base:3'], buildtime: [] });
  });

  it('names what it could not read, and still gives the rest', async () => {
    const folder = tempDir('bases-missing');
    writeFiles(folder, { Dockerfile: 'ARG UNSET\nFROM $UNSET AS a\nFROM alpine:3.19\n' });
    const taskFile = 'version: v1.1.0\nsteps:\n  - build: -t one .\n  - build: -t two -f missing/Dockerfile .\n  - build: -t three https://example.invalid/repo.git#main\n';
    const bases = await basesOfTask(task({ taskFile }), { registryHost, readFile: folderReader(folder) });
    assert.deepEqual(flat(bases), { runtime: ['docker.io/library/alpine:3.19'], buildtime: [] });
    assert.equal(bases.problems.length, 3, bases.problems.join('\n'));
    assert.match(bases.problems[0]!, /\$UNSET has no value/);
    assert.match(bases.problems[1]!, /"missing\/Dockerfile" is not in the task's source/);
    assert.match(bases.problems[2]!, /builds from https:\/\/example\.invalid\/repo\.git#main, read only when the task runs/);
    const broken = await basesOfTask(task({ taskFile: 'steps: [' }), { registryHost, readFile: folderReader(folder) });
    assert.deepEqual(flat(broken), { runtime: [], buildtime: [] });
    assert.match(broken.problems[0]!, /the task file cannot be read/);
  });

  it('a cmd task builds nothing', async () => {
    const bases = await basesOfTask(task({ kind: 'cmd' }), { registryHost, readFile: async () => null });
    assert.deepEqual(bases, { runtime: [], buildtime: [], problems: [] });
  });

  describe('with a fetched git source', () => {
    let git: GitServer;
    before(async () => {
      git = await startGitServer('unused-token');
      await createRepository(git, 'bases', 'main', { 'app/Dockerfile': 'FROM 127.0.0.1:5000/upstream/runtime:2 AS run\nFROM run\n', 'acr-task.yaml': 'version: v1.1.0\nsteps:\n  - build: -t app app\n' });
    });
    after(() => git.close());

    it('reads the task file and Dockerfiles through FetchedSource.readFile', async () => {
      const source = await fetchSource(parseSourceLocation(`${git.url}/git/bases.git#main`), null, AbortSignal.timeout(60_000), () => undefined, new EgressPolicy());
      try {
        const bases = await basesOfTask(task({ taskFilePath: 'acr-task.yaml' }), { registryHost, readFile: (path) => source.readFile(path) });
        assert.deepEqual(flat(bases), { runtime: ['127.0.0.1:5000/upstream/runtime:2'], buildtime: [] });
        assert.deepEqual(bases.problems, []);
      } finally {
        await source.dispose();
      }
    });
  });
});
