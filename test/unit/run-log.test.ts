import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RunLog } from '../../src/tasks/run-log.js';
import { pause, waitFor } from '../helpers/wait.js';

function memoryStore() {
  const chunks: string[] = [];
  return { chunks, store: { appendLog: async (_id: string, text: string) => void chunks.push(text) } };
}

describe('run log masking', () => {
  it('masks a secret even when the output splits it across chunks', async () => {
    const { chunks, store } = memoryStore();
    const log = new RunLog(store, 'cb1', ['hunter2-secret'], 5);
    log.write('token is hun');
    // a flush happens between the two halves
    await waitFor(() => chunks.length > 0, { what: 'the run log to flush the first half', timeoutMs: 10_000, intervalMs: 5 });
    log.write('ter2-secret and done\n');
    log.write('again: hunter2-secret\n');
    await log.close();
    const all = chunks.join('');
    assert.equal(all, 'token is *** and done\nagain: ***\n');
    assert.ok(chunks.length >= 2, 'it did flush before the end');
  });

  it('holds back only what could start a secret, and masks values learnt later', async () => {
    const { chunks, store } = memoryStore();
    const log = new RunLog(store, 'cb2', ['abcdef'], 5);
    log.write('plain text ab');
    await waitFor(() => chunks.length > 0, { what: 'the run log to flush', timeoutMs: 10_000, intervalMs: 5 });
    await pause(20, 'a few more 5 ms flushes, which must keep holding back "ab"');
    assert.equal(chunks.join(''), 'plain text ');
    log.write('x then learned-later\n');
    log.mask('learned-later');
    await log.close();
    assert.equal(chunks.join(''), 'plain text abx then ***\n');
  });
});
