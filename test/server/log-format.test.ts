import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chooseLogFormat, createLogger, logOutput } from '../../src/observability/logger.js';
import { resolveSettings, SettingsError } from '../../src/config/settings.js';
import { adminPassword, cliPath, startBerth, tempDir } from '../helpers/berth-process.js';
import { waitFor } from '../helpers/wait.js';

// Logs are JSON lines for machines (a pipe, a file, a collector) and readable lines on a terminal.

const isJson = (line: string): boolean => {
  try {
    return typeof JSON.parse(line) === 'object';
  } catch {
    return false;
  }
};
const ansiEscape = '\u001b[';

/** Waits until `read()` satisfies `done` (a file not there yet counts as not yet), with a deadline. */
function waitForText(read: () => string, done: (text: string) => boolean, what: string, timeoutMs = 20_000): Promise<string> {
  let last = '';
  return waitFor(() => {
    last = read();
    return done(last) ? last : '';
  }, { what, timeoutMs, detail: () => `last read:\n${last}` });
}

describe('log format', () => {
  it('a terminal gets readable lines, anything else JSON lines; a forced format wins', () => {
    assert.equal(chooseLogFormat('auto', true), 'pretty');
    assert.equal(chooseLogFormat('auto', false), 'json');
    assert.equal(chooseLogFormat('json', true), 'json');
    assert.equal(chooseLogFormat('pretty', false), 'pretty');
    // A file is no terminal.
    assert.equal(logOutput({ level: 'info', format: 'auto', destination: join(tempDir('log'), 'auto.log') }).format, 'json');
  });

  it('the pretty and the JSON logger write what they say', async () => {
    const dir = tempDir('log');
    for (const format of ['pretty', 'json'] as const) {
      const file = join(dir, `${format}.log`);
      const log = createLogger({ level: 'info', format, destination: file, base: { agent: 'probe' } });
      log.debug('not at this level');
      log.warn({ run: 'cb7' }, 'lease renewal failed');
      await new Promise<void>((resolve, reject) => log.flush((error) => (error ? reject(error) : resolve())));
      const text = await waitForText(() => readFileSync(file, 'utf8'), (t) => t.includes('lease renewal failed'), `the ${format} line`);
      const lines = text.trim().split('\n');
      assert.equal(lines.length, 1, text);
      if (format === 'json') {
        const line = JSON.parse(lines[0]!) as Record<string, unknown>;
        assert.deepEqual([line.level, line.msg, line.agent, line.run], [40, 'lease renewal failed', 'probe', 'cb7']);
      } else {
        assert.ok(!isJson(lines[0]!), lines[0]);
        assert.match(lines[0]!, /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN: lease renewal failed .*"agent":"probe".*"run":"cb7"/);
        assert.ok(!lines[0]!.includes(ansiEscape), 'no colours when not on a terminal');
      }
    }
  });

  it('--log-format wins over BERTH_LOG_FORMAT, which wins over logFormat in the config file; bad values are refused', () => {
    const config = join(tempDir('log-config'), 'berth.yaml');
    writeFileSync(config, 'logFormat: pretty\n');
    assert.equal(resolveSettings({}, {}).logFormat, 'auto');
    assert.equal(resolveSettings({ config }, {}).logFormat, 'pretty');
    assert.equal(resolveSettings({ config }, { BERTH_LOG_FORMAT: 'json' }).logFormat, 'json');
    assert.equal(resolveSettings({ config, logFormat: 'auto' }, { BERTH_LOG_FORMAT: 'json' }).logFormat, 'auto');
    assert.throws(() => resolveSettings({ logFormat: 'xml' }, {}), (e: unknown) => e instanceof SettingsError && /invalid log format "xml"/.test(e.message));
  });

  it('a server whose stdout is a pipe writes JSON lines; BERTH_LOG_FORMAT=pretty makes them readable', async () => {
    for (const format of [undefined, 'pretty']) {
      const berth = await startBerth(format ? { env: { BERTH_LOG_FORMAT: format } } : {});
      try {
        assert.equal((await fetch(`${berth.url}/healthz`)).status, 200);
        const out = await waitForText(berth.stdout, (t) => t.includes('"url":"/healthz"'), 'the request line');
        const lines = out.trim().split('\n');
        if (format === undefined) {
          assert.ok(lines.every(isJson), out);
          assert.ok(lines.map((l) => JSON.parse(l) as { msg: string; url?: string }).some((l) => l.msg === 'request' && l.url === '/healthz'), out);
        } else {
          assert.ok(!lines.some(isJson), out);
          assert.ok(lines.some((l) => /^\[[\d:.]+\] INFO: request .*"url":"\/healthz"/.test(l)), out);
        }
      } finally {
        await berth.stop();
      }
    }
  });

  it("a server on a terminal (script(1)'s pseudo-TTY) writes readable, coloured lines", async () => {
    const dataDir = tempDir('log-tty');
    const command = `exec '${process.execPath}' '${cliPath}' serve --listen 127.0.0.1:0 --data-dir '${dataDir}'`;
    const child = spawn('script', ['-qefc', command, '/dev/null'], {
      env: { ...process.env, BERTH_ADMIN_PASSWORD: adminPassword, BERTH_LOG_FORMAT: '', TERM: 'xterm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      const url = /listening on (http:\/\/\S+)/.exec(await waitForText(() => out, (t) => /listening on http:\/\/\S+\s/.test(t), 'the server to listen'))![1]!;
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const text = await waitForText(() => out, (t) => t.includes('/healthz'), 'the request line');
      const lines = text.split(/\r?\n/).filter((l) => l.includes('INFO'));
      assert.ok(lines.length >= 2, text);
      assert.ok(!lines.some(isJson), text);
      const request = lines.find((l) => l.includes('/healthz'))!;
      assert.ok(request.includes(ansiEscape), `coloured on a terminal: ${JSON.stringify(request)}`);
      assert.match(request.replace(/\u001b\[\d+m/g, ''), /^\[[\d:.]+\] INFO: request .*"status":200/);
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
  });

  it('berth agent writes its log as JSON lines on a piped stderr, each naming the agent', async () => {
    const agentKey = 'log-format-agent-key-0123';
    const berth = await startBerth({ args: ['--no-local-agent'], env: { BERTH_AGENT_KEY: agentKey } });
    const agent = spawn(process.execPath, [cliPath, 'agent', '--server', berth.url, '--name', 'log-probe'], {
      env: { ...process.env, BERTH_AGENT_KEY: agentKey },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    let out = '';
    agent.stderr.on('data', (d: Buffer) => (err += d.toString()));
    agent.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
    try {
      await waitForText(() => err, (t) => t.includes('executing runs for'), 'the agent to start');
      // With its server gone, the agent's polls fail, and it says so in its log.
      await berth.stop();
      const text = await waitForText(() => err, (t) => t.includes('agent poll failed'), 'a logged poll failure');
      const logged = text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; agent: string });
      const failure = logged.find((l) => l.msg === 'agent poll failed');
      assert.deepEqual([failure?.level, failure?.agent], [50, 'log-probe']);
      assert.equal(out, '', 'nothing on stdout');
    } finally {
      agent.kill('SIGTERM');
      await exited;
      await berth.stop();
    }
  });
});
