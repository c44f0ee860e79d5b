import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { adminCredentials, cliPath, repoRoot, startBerth, tempDir, type BerthProcess } from '../helpers/berth-process.js';
import { OciClient } from '../helpers/oci-client.js';
import { api, tokenPassword, type CreatedToken } from '../helpers/management.js';
import { runProcess } from '../helpers/processes.js';
import { run } from '../helpers/commands.js';
import { waitFor } from '../helpers/wait.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

let berth: BerthProcess;
let client: OciClient;
const configDir = tempDir('cli-repository');

/** The real CLI with this file's own login. */
async function cli(args: string[], dir = configDir): Promise<{ status: number; stdout: string; stderr: string }> {
  const result = await runProcess(process.execPath, [cliPath, ...args], { env: { ...process.env, BERTH_CONFIG_DIR: dir }, cwd: repoRoot, timeoutMs: 120_000 });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

async function ok(args: string[], dir = configDir): Promise<string> {
  const result = await cli(args, dir);
  assert.equal(result.status, 0, `berth ${args.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

async function json<T>(args: string[]): Promise<T> {
  return JSON.parse(await ok([...args, '-o', 'json'])) as T;
}

before(async () => {
  berth = await startBerth();
  client = new OciClient(berth.url);
  await ok(['login', berth.url, '-u', 'admin', '-p', adminCredentials.password]);
});
after(async () => {
  await berth?.stop();
});

describe('berth repository / manifest (az acr repository, az acr manifest)', () => {
  it('list, show with storage figures, show-tags by name and by time, --detail, --top', async () => {
    for (const tag of ['2', '3', '1']) await client.pushImage('cli/app', tag);
    assert.ok((await json<string[]>(['repository', 'list'])).includes('cli/app'));
    assert.match(await ok(['repository', 'list']), /^Result\n-+\n(.*\n)*cli\/app\n/);
    const shown = await json<{ imageName: string; tagCount: number; storage: { referencedBytes: number } }>(['repository', 'show', '--repository', 'cli/app']);
    assert.equal(shown.imageName, 'cli/app');
    assert.equal(shown.tagCount, 3);
    assert.ok(shown.storage.referencedBytes > 0);
    assert.match(await ok(['repository', 'show', '--repository', 'cli/app']), /^Registry\s+ImageName\s+CreatedTime\s+LastUpdateTime\s+ManifestCount\s+TagCount\s+ReferencedBytes\s+UniqueBytes\s+SharedBytes/);
    assert.deepEqual(await json<string[]>(['repository', 'show-tags', '--repository', 'cli/app']), ['1', '2', '3']);
    assert.deepEqual(await json<string[]>(['repository', 'show-tags', '--repository', 'cli/app', '--orderby', 'time_desc']), ['1', '3', '2']);
    assert.deepEqual(await json<string[]>(['repository', 'show-tags', '--repository', 'cli/app', '--orderby', 'time_asc', '--top', '2']), ['2', '3']);
    const detail = await json<Array<Record<string, unknown>>>(['repository', 'show-tags', '--repository', 'cli/app', '--detail']);
    assert.deepEqual(Object.keys(detail[0]!).sort(), ['changeableAttributes', 'createdTime', 'digest', 'lastPulledTime', 'lastUpdateTime', 'name', 'pullCount', 'signed']);
    assert.match(await ok(['repository', 'show-tags', '--repository', 'cli/app', '--detail']), /^Name\s+Digest\s+CreatedTime\s+LastUpdateTime\s+Signed\s+LastPulledTime\s+PullCount\n/);
    const manifests = await json<Array<{ digest: string; tags: string[]; timestamp: string }>>(['repository', 'show-manifests', '--repository', 'cli/app', '--orderby', 'time_desc']);
    assert.deepEqual(manifests.map((m) => m.tags), [['1'], ['3'], ['2']]);
  });

  it('pull counts after a real docker pull show in show-tags --detail and manifest list-metadata', async () => {
    const image = `${berth.host}/cli/pulled:v1`;
    await run('docker', ['login', berth.host, '-u', 'admin', '--password-stdin'], { input: adminCredentials.password });
    // An image of its own, so that after rmi docker has nothing of it and really pulls (with
    // the content at hand it only resolves the tag with a HEAD, which counts for the tag alone).
    const root = tempDir('cli-pulled-root');
    writeFileSync(join(root, 'marker'), `pulled ${Date.now()} ${Math.random()}\n`);
    const tarball = join(tempDir('cli-pulled-tar'), 'rootfs.tar');
    await run('tar', ['-C', root, '-cf', tarball, '.']);
    await run('docker', ['import', tarball, image]);
    await run('docker', ['push', image]);
    await run('docker', ['rmi', image]);
    await run('docker', ['pull', image]);
    await run('docker', ['rmi', image]).catch(() => undefined);
    const tag = await waitFor(
      async () => (await json<Array<{ pullCount: number; lastPulledTime: string | null }>>(['repository', 'show-tags', '--repository', 'cli/pulled', '--detail'])).find((t) => t.pullCount === 1),
      { what: 'the docker pull of cli/pulled:v1 to be counted' },
    );
    assert.ok(tag.lastPulledTime);
    const [manifest] = await json<Array<{ pullCount: number; tags: string[] }>>(['manifest', 'list-metadata', '-n', 'cli/pulled']);
    assert.equal(manifest!.pullCount, 1);
    assert.deepEqual(manifest!.tags, ['v1']);
  });

  it('delete --image by tag takes the manifest and reports every tag; untag removes only the tag', async () => {
    const pushed = await client.pushImage('cli/del', 'a');
    for (const tag of ['b', 'c']) await client.pushManifest('cli/del', tag, pushed.manifest);
    const untagged = await json<{ tagsDeleted: string[] }>(['repository', 'untag', '--image', 'cli/del:c']);
    assert.deepEqual(untagged.tagsDeleted, ['c']);
    assert.deepEqual(await json<string[]>(['repository', 'show-tags', '--repository', 'cli/del']), ['a', 'b']);
    const report = await json<{ manifestsDeleted: string[]; tagsDeleted: string[] }>(['repository', 'delete', '--image', 'cli/del:a', '--yes']);
    assert.deepEqual(report, { manifestsDeleted: [pushed.digest], tagsDeleted: ['a', 'b'] });
    assert.equal((await client.request('GET', `/v2/cli/del/manifests/${pushed.digest}`)).status, 404);
    assert.match(await ok(['manifest', 'delete', '-n', 'cli/app:1', '--yes']), /Deleted manifests: sha256:[0-9a-f]{64}; tags: 1/);
  });

  it('update sets changeable attributes on a repository and a tag; manifest show and list-referrers', async () => {
    const updated = await json<{ changeableAttributes: Record<string, boolean> }>(['repository', 'update', '--repository', 'cli/app', '--write-enabled', 'false']);
    assert.equal(updated.changeableAttributes.writeEnabled, false);
    const tag = await json<{ changeableAttributes: Record<string, boolean> }>(['repository', 'update', '--image', 'cli/app:2', '--delete-enabled', 'false']);
    assert.deepEqual(tag.changeableAttributes, { deleteEnabled: false, writeEnabled: true, readEnabled: true, listEnabled: true });
    const subject = await client.pushImage('cli/signed', 'v1');
    const signature = await client.pushSignature('cli/signed', subject);
    const shown = await json<{ schemaVersion: number; layers: unknown[] }>(['manifest', 'show', '-n', 'cli/signed:v1']);
    assert.equal(shown.schemaVersion, 2);
    const referrers = await json<{ references: Array<{ digest: string; artifactType: string }> }>(['manifest', 'list-referrers', '-n', 'cli/signed:v1']);
    assert.deepEqual(referrers.references.map((r) => r.digest), [signature.digest]);
    assert.equal(referrers.references[0]!.artifactType, 'application/vnd.example.signature');
  });

  it('a pull-only token lists but may not delete or update (403 DENIED)', async () => {
    const created = await api<CreatedToken>(berth.url, adminCredentials, 'POST', '/api/v1/tokens', { name: 'cli-reader', rules: [{ repository: 'cli/app', actions: ['content/read', 'metadata/read'] }] });
    assert.equal(created.status, 201);
    const readerDir = tempDir('cli-reader');
    await ok(['login', berth.url, '-u', 'cli-reader', '-p', tokenPassword(created.body)], readerDir);
    assert.equal((await cli(['repository', 'show-tags', '--repository', 'cli/app', '-o', 'json'], readerDir)).status, 0);
    for (const args of [['repository', 'delete', '--image', 'cli/app:2', '--yes'], ['repository', 'update', '--repository', 'cli/app', '--read-enabled', 'false'], ['repository', 'untag', '--image', 'cli/app:2']]) {
      const result = await cli(args, readerDir);
      assert.equal(result.status, 1, args.join(' '));
      assert.match(result.stderr, /DENIED|UNAUTHORIZED/, args.join(' '));
    }
  });
});
