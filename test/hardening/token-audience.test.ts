import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { describe, it } from 'node:test';
import { adminCredentials, startBerth, tempDir } from '../helpers/berth-process.js';
import { basicAuth } from '../helpers/oci-client.js';

/** A GET with a Host header of our choosing (fetch does not let one forge it). */
function getWithHost(base: string, path: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path, headers: { ...headers, Host: host } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function audience(jwt: string): unknown {
  return (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { aud?: unknown }).aud;
}

describe('token realm and audience come from configuration', () => {
  it('the challenge names the configured address whatever Host the client sends', async (t) => {
    const berth = await startBerth();
    t.after(() => berth.stop());
    for (const host of [berth.host, 'evil.example:1234', 'localhost', 'a"b']) {
      const res = await getWithHost(berth.url, '/v2/', host);
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], `Bearer realm="${berth.url}/oauth2/token",service="${berth.host}"`, `Host: ${host}`);
    }
  });

  it('a token minted through a forged Host is for this registry only, and a token for another audience is refused', async (t) => {
    const dataDir = tempDir('audience');
    const first = await startBerth({ dataDir, env: { BERTH_PUBLIC_URL: 'http://registry-a.example:5000' } });
    let second: Awaited<ReturnType<typeof startBerth>> | null = null;
    t.after(async () => {
      await first.stop();
      await second?.stop();
    });
    const minted = await getWithHost(first.url, '/oauth2/token?scope=registry:catalog:*', 'evil.example:1234', { Authorization: basicAuth(adminCredentials) });
    assert.equal(minted.status, 200);
    const token = (JSON.parse(minted.body) as { token: string }).token;
    assert.equal(audience(token), 'registry-a.example:5000', 'the audience is the configured service, not the Host');
    const challenge = await fetch(`${first.url}/v2/`);
    assert.equal(challenge.headers.get('www-authenticate'), 'Bearer realm="http://registry-a.example:5000/oauth2/token",service="registry-a.example:5000"');
    assert.equal((await fetch(`${first.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
    await first.stop();

    // Same keys (same data dir), another service name: the old token is not for it.
    second = await startBerth({ dataDir, env: { BERTH_PUBLIC_URL: 'https://registry-b.example' } });
    const refused = await fetch(`${second.url}/v2/_catalog`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get('www-authenticate') ?? '', /realm="https:\/\/registry-b\.example\/oauth2\/token",service="registry-b\.example".*error="invalid_token"/);
    const refresh = await fetch(`${second.url}/oauth2/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, service: 'registry-b.example' }).toString(),
    });
    assert.equal(refresh.status, 401);
  });

  it('refuses a public URL that is not http(s)', async () => {
    await assert.rejects(startBerth({ env: { BERTH_PUBLIC_URL: 'ftp://registry.example' } }), /invalid public URL/);
  });
});
