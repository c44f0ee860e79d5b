import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EgressPolicy, EgressDeniedError } from '../../src/network/egress.js';
import { resolveSettings, SettingsError } from '../../src/config/settings.js';
import { tempDir } from '../helpers/berth-process.js';

const policies: EgressPolicy[] = [];
const policy = (deny: string[] = [], allow: string[] = []): EgressPolicy => {
  const p = new EgressPolicy({ deny, allow });
  policies.push(p);
  return p;
};
after(async () => {
  for (const p of policies) await p.close();
});

describe('egress policy rules', () => {
  it('denies link-local and cloud metadata by default, in every notation; allows loopback and private ranges', () => {
    const p = policy();
    for (const address of ['169.254.169.254', '169.254.170.2', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', 'fd00:ec2::254', 'fe80::1', '0.0.0.0', '100.100.100.200', '168.63.129.16', '::']) {
      assert.match(p.refusal(address, address) ?? '', /refused by the egress policy/, address);
    }
    for (const address of ['127.0.0.1', '::1', '10.1.2.3', '172.16.0.1', '192.168.1.1', 'fd12:3456::1', '100.64.0.1', '8.8.8.8']) {
      assert.equal(p.refusal(address, address), null, address);
    }
  });

  it('adds configured denies to the defaults; allow (CIDR or host name) wins over any deny', () => {
    const p = policy(['10.0.0.0/8', 'fc00::/7', '*.corp.example', 'build.internal'], ['10.9.0.0/16', 'registry.corp.example', '169.254.169.254']);
    assert.match(p.refusal('10.1.2.3', '10.1.2.3') ?? '', /matches 10\.0\.0\.0\/8/);
    assert.match(p.refusal('fd12::1', 'fd12::1') ?? '', /matches fc00::\/7/);
    assert.equal(p.refusal('10.9.1.1', '10.9.1.1'), null, 'allowed CIDR inside a denied one');
    assert.match(p.refusal('git.corp.example', '203.0.113.9') ?? '', /git\.corp\.example \(203\.0\.113\.9\) is refused .*matches \*\.corp\.example/);
    assert.equal(p.refusal('corp.example', '203.0.113.9'), null, '*.domain is subdomains only');
    assert.equal(p.refusal('registry.corp.example', '10.1.2.3'), null, 'an allowed name reaches even a denied address');
    assert.match(p.refusal('BUILD.internal.', '203.0.113.9') ?? '', /matches build\.internal/, 'names compare case-blind, trailing dot ignored');
    assert.equal(p.refusal('169.254.169.254', '169.254.169.254'), null, 'a default deny can be opened on purpose');
    assert.match(p.refusal('169.254.170.2', '169.254.170.2') ?? '', /169\.254\.0\.0\/16/, 'only what was allowed');
  });

  it('checks URLs without resolving names: scheme, literal addresses (any spelling), host rules', () => {
    const p = policy(['127.0.0.0/8', 'blocked.example']);
    assert.throws(() => p.checkUrl(new URL('file:///etc/passwd')), EgressDeniedError);
    assert.throws(() => p.checkUrl(new URL('ftp://example.com/x')), /only http and https/);
    for (const url of ['http://127.0.0.1:5000/', 'http://0x7f000001/', 'http://2130706433/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/', 'https://blocked.example/']) {
      assert.throws(() => p.checkUrl(new URL(url)), /refused by the egress policy/, url);
    }
    p.checkUrl(new URL('https://registry.example.com/v2/'));
  });

  it('refuses invalid rules with the entry named', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0/8', 'not a host', '*', 'fe80::/200', '1.2.3.4/x']) {
      assert.throws(() => new EgressPolicy({ deny: [bad], allow: [] }), /invalid egress rule/, bad);
    }
  });

  it('checks the resolved address at connect time, so a name cannot dodge an address rule', async () => {
    const server = createServer((_req, res) => res.end('reached'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    try {
      const open = policy();
      assert.equal(await (await open.fetch(`http://127.0.0.1:${port}/`, { redirect: 'same-origin' })).text(), 'reached');
      const closed = policy(['127.0.0.0/8', '::1']);
      await assert.rejects(closed.fetch(`http://localhost:${port}/`, { redirect: 'same-origin' }), (error: Error) => {
        assert.ok(error instanceof EgressDeniedError, String(error));
        assert.match(error.message, /^localhost \((127\.0\.0\.1|::1)\) is refused by the egress policy/);
        return true;
      });
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('egress settings', () => {
  it('reads comma lists from the environment and lists from the config file; the environment wins', () => {
    const dir = tempDir('egress-settings');
    const file = join(dir, 'berth.yaml');
    writeFileSync(file, 'egress:\n  deny: [10.0.0.0/8, "*.corp.example"]\n  allow:\n    - registry.corp.example\n');
    const fromFile = resolveSettings({ config: file }, {});
    assert.deepEqual(fromFile.egress, { deny: ['10.0.0.0/8', '*.corp.example'], allow: ['registry.corp.example'] });
    const fromEnv = resolveSettings({ config: file }, { BERTH_EGRESS_DENY: ' 192.168.0.0/16 , fd00::/8,', BERTH_EGRESS_ALLOW: '' });
    assert.deepEqual(fromEnv.egress, { deny: ['192.168.0.0/16', 'fd00::/8'], allow: ['registry.corp.example'] });
    assert.deepEqual(resolveSettings({}, {}).egress, { deny: [], allow: [] });
  });

  it('refuses an invalid entry at start', () => {
    assert.throws(() => resolveSettings({}, { BERTH_EGRESS_DENY: '10.0.0.0/99' }), (error: Error) => error instanceof SettingsError && /egress\.deny/.test(error.message));
  });
});
