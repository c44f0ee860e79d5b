import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliPath, startBerth, tempDir } from '../helpers/berth-process.js';
import { OciClient, basicAuth, sha256 } from '../helpers/oci-client.js';
import { waitFor } from '../helpers/wait.js';

/** spawnSync of the CLI blocks this process: never for ever. */
const cliTimeoutMs = 120_000;

describe('operations', () => {
  it('health, readiness and Prometheus metrics', async (t) => {
    const berth = await startBerth({ t });
    const client = new OciClient(berth.url);
    assert.equal((await client.request('GET', '/healthz')).status, 200);
    assert.equal((await client.request('GET', '/readyz')).status, 200);
    await client.pushImage('ops/metrics', 'v1');
    await client.request('GET', '/v2/ops/metrics/manifests/v1');
    await client.request('POST', '/v2/ops/metrics/blobs/uploads/');
    const metrics = await (await client.request('GET', '/metrics')).text();
    assert.match(metrics, /berth_http_requests_total\{route="manifest",method="GET",status="200"\} 1/);
    assert.match(metrics, /berth_http_request_duration_seconds_bucket\{le="0.005",route="manifest",method="PUT",status="201"\} \d+/);
    const bytesIn = Number(/berth_registry_bytes_received_total (\d+)/.exec(metrics)?.[1]);
    assert.ok(bytesIn > 0);
    assert.match(metrics, /berth_registry_bytes_sent_total [1-9]\d*/);
    assert.match(metrics, /berth_registry_upload_sessions 1/);
    const used = Number(/berth_storage_used_bytes (\d+)/.exec(metrics)?.[1]);
    assert.ok(used > 0);
  });

  it('writes one JSON log line per request with its request id, and prints the settings at start', async (t) => {
    const berth = await startBerth({ t });
    const client = new OciClient(berth.url);
    const res = await client.request('GET', '/v2/ops/none/tags/list', { headers: { 'X-Request-Id': 'trace-me-123' } });
    assert.equal(res.headers.get('x-request-id'), 'trace-me-123');
    const generated = await client.request('GET', '/v2/');
    const generatedId = generated.headers.get('x-request-id');
    assert.match(generatedId ?? '', /^[0-9a-f-]{36}$/);
    await berth.stop();
    const lines = berth.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const entry = lines.find((l) => l.reqId === 'trace-me-123');
    assert.ok(entry, 'request logged with its id');
    assert.equal(entry.status, 404);
    assert.equal(entry.method, 'GET');
    assert.ok(lines.some((l) => l.reqId === generatedId));
    const start = lines.find((l) => l.msg === 'berth starting');
    const settings = (start?.settings ?? {}) as Record<string, unknown>;
    assert.deepEqual(Object.keys(settings).sort(), ['agents', 'auth', 'blobStorage', 'dataDir', 'egress', 'gc', 'http', 'lifecycle', 'listen', 'logFormat', 'logLevel', 'loginThrottle', 'metadata', 'publicUrl', 'rateLimit', 'runLogRetentionDays', 'secretKey', 'taskImageAliases', 'tls', 'tokenLifetimes', 'triggers', 'webhookRetry']);
    assert.ok(!berth.stdout().includes('test-admin-password'), 'no secret in the log');
  });

  it('reads settings from a YAML config file; flags win over it', async (t) => {
    const dir = tempDir('config');
    const fromFile = join(dir, 'from-file');
    writeFileSync(join(dir, 'berth.yaml'), `dataDir: ${fromFile}\nlogLevel: warn\n`);
    const env = { BERTH_LOG_LEVEL: '' };
    const berth = await startBerth({ omitDataDirFlag: true, args: ['--config', join(dir, 'berth.yaml')], env, t });
    await new OciClient(berth.url).pushImage('ops/config', 'v1');
    await berth.stop();
    assert.ok(existsSync(join(fromFile, 'metadata.db')), 'dataDir from the file is used');
    assert.ok(!berth.stdout().includes('"msg":"request"'), 'logLevel warn from the file hides request lines');
    const flagged = await startBerth({ omitDataDirFlag: true, args: ['--config', join(dir, 'berth.yaml'), '--log-level', 'info'], env, t });
    await new OciClient(flagged.url).request('GET', '/v2/');
    await flagged.stop();
    assert.ok(flagged.stdout().includes('"msg":"request"'), '--log-level wins over the file');
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'listen: 127.0.0.1:0\nbogus: 1\n');
    const result = spawnSync(process.execPath, [cliPath, 'serve', '--config', bad], { encoding: 'utf8', timeout: cliTimeoutMs, killSignal: 'SIGKILL' });
    assert.equal(result.status, 1);
    assert.match(result.stderr, /unknown keys bogus/);
    const badListen = spawnSync(process.execPath, [cliPath, 'serve', '--listen', 'nonsense', '--data-dir', dir], { encoding: 'utf8', timeout: cliTimeoutMs, killSignal: 'SIGKILL' });
    assert.equal(badListen.status, 1);
    assert.match(badListen.stderr, /invalid listen address/);
  });

  it('SIGTERM lets an in-flight upload finish, then exits 0', async (t) => {
    const berth = await startBerth({ t });
    const client = new OciClient(berth.url);
    const start = await client.request('POST', '/v2/ops/term/blobs/uploads/');
    const location = start.headers.get('location')!;
    const uploadFile = join(berth.dataDir, 'uploads', location.split('/').pop()!);
    const url = new URL(berth.url);
    const body = Buffer.alloc(2 * 1024 * 1024, 1);
    // Uploads reach the file in ~1 MiB batches, so the first part is more than one batch.
    const firstPart = 1280 * 1024;
    const req = request({
      host: url.hostname,
      port: url.port,
      method: 'PUT',
      path: `${location}?digest=${sha256(body)}`,
      headers: { 'Content-Length': String(body.length), Authorization: basicAuth(client.credentials!) },
    });
    const response = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
    });
    req.write(body.subarray(0, firstPart));
    // The upload is in flight once the server is writing its first bytes.
    await waitFor(() => statSync(uploadFile).size >= 1024 * 1024, { what: 'the server to be writing the upload' });
    berth.child.kill('SIGTERM');
    // The rest goes only once the server is shutting down.
    await waitFor(() => berth.stdout().includes('berth shutting down'), { what: 'the server to log that it is shutting down' });
    req.end(body.subarray(firstPart));
    assert.equal(await response, 201);
    assert.equal(await berth.stop(), 0);
  });
});
