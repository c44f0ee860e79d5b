import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openSqliteDatabase } from '../../src/metadata/sql/sqlite.js';
import { SqlMetadataStore } from '../../src/metadata/sql/sql-metadata-store.js';
import { SqlWorkQueue } from '../../src/metadata/sql/sql-work-queue.js';
import { RegistryEvents } from '../../src/events/registry-events.js';
import { JournalConsumer } from '../../src/background/journal-consumer.js';
import { manifest as storedManifest } from '../storage/metadata-store-suite.js';
import { tempDir } from '../helpers/berth-process.js';
import { waitFor } from '../helpers/wait.js';

const digest = (n: number) => `sha256:${String(n).padStart(64, '0')}`;
const manifest = (n: number) => storedManifest('relay/repo', digest(n));
const quietLog = { error: () => undefined, info: () => undefined };

const until = (check: () => boolean, what: string) => waitFor(check, { what, timeoutMs: 30_000, intervalMs: 50 });

/** Pushes manifest n (tag tn) with its journal entry, as the manifest service does. */
function pusher(store: SqlMetadataStore): (n: number) => Promise<unknown> {
  const writer = new RegistryEvents();
  return (n) =>
    store.putManifest(manifest(n), [], `t${n}`, (previousDigest) => [
      writer.journalEntry('manifest.pushed', { repository: 'relay/repo', digest: digest(n), tag: `t${n}`, mediaType: 'm', size: 2, previousDigest }),
    ]);
}

const consumer = (name: string, store: SqlMetadataStore, queue: SqlWorkQueue, owner: string, events: RegistryEvents) =>
  new JournalConsumer(name, store, queue, owner, (entry) => events.deliver(entry.name, entry.payload), quietLog);

describe('journal consumers (the registry event journal)', () => {
  it('delivers what was committed while nobody listened, in order; a failing listener is retried; the cursor survives a restart', async () => {
    const file = join(tempDir('relay'), 'metadata.db');
    const db = await openSqliteDatabase(file);
    const store = new SqlMetadataStore(db);
    const queue = new SqlWorkQueue(db);
    const push = pusher(store);
    // Committed before any relay runs: what a crash between commit and delivery leaves behind.
    for (const n of [1, 2, 3]) await push(n);

    const events = new RegistryEvents();
    const seen: string[] = [];
    let failOnce = true;
    events.on('manifest.pushed', (e) => void seen.push(e.digest));
    events.on('manifest.pushed', async (e) => {
      if (e.digest === digest(2) && failOnce) {
        failOnce = false;
        throw new Error('outbox unavailable');
      }
    });
    const relay = consumer('registry-events', store, queue, 'server-a', events);
    await relay.start();
    await until(() => seen.includes(digest(3)), 'the relay to deliver event 3');
    // Event 2 reached the first listener twice (at least once), and 3 only after 2 went through.
    assert.deepEqual(seen, [digest(1), digest(2), digest(2), digest(3)]);
    await relay.stop();

    // A restarted relay resumes after the saved cursor: nothing old again, the new one once.
    const restartedEvents = new RegistryEvents();
    const after: string[] = [];
    restartedEvents.on('manifest.pushed', (e) => void after.push(e.digest));
    const restarted = consumer('registry-events', store, queue, 'server-b', restartedEvents);
    await restarted.start();
    await push(4);
    restarted.poke();
    await until(() => after.length > 0, 'the restarted relay to deliver event 4');
    await restarted.stop();
    assert.deepEqual(after, [digest(4)]);
    await store.close();
  });

  it('two servers: only the lease holder consumes; the other takes over when the holder stops, from its cursor', async () => {
    const db = await openSqliteDatabase(join(tempDir('relay-two'), 'metadata.db'));
    const store = new SqlMetadataStore(db);
    const queue = new SqlWorkQueue(db);
    const push = pusher(store);
    const seenA: string[] = [];
    const seenB: string[] = [];
    const eventsA = new RegistryEvents();
    const eventsB = new RegistryEvents();
    eventsA.on('manifest.pushed', (e) => void seenA.push(e.digest));
    eventsB.on('manifest.pushed', (e) => void seenB.push(e.digest));
    const a = consumer('shared', store, queue, 'server-a', eventsA);
    const b = consumer('shared', store, queue, 'server-b', eventsB);
    try {
      await a.start();
      await b.start();
      for (const n of [1, 2, 3]) await push(n);
      a.poke();
      b.poke();
      await until(() => seenA.length + seenB.length >= 3, 'the three events to be handled');
      // Pokes and polls of both keep coming; still, each event went to one server only.
      for (let i = 0; i < 5; i++) b.poke();
      await a.stop();
      await push(4);
      await until(() => seenB.includes(digest(4)), 'the second server to take over and handle event 4');
      assert.deepEqual([...seenA, ...seenB].sort(), [digest(1), digest(2), digest(3), digest(4)]);
      assert.ok(seenA.length === 3 || seenB.length === 4, `one server at a time (A ${seenA.length}, B ${seenB.length})`);
    } finally {
      await a.stop();
      await b.stop();
      await store.close();
    }
  });

  it('a consumer added to a registry with history starts at the end when asked (a new trigger does not fire for old pushes)', async () => {
    const db = await openSqliteDatabase(join(tempDir('relay-end'), 'metadata.db'));
    const store = new SqlMetadataStore(db);
    const queue = new SqlWorkQueue(db);
    const push = pusher(store);
    for (const n of [1, 2]) await push(n);
    const fromEnd: string[] = [];
    const fromStart: string[] = [];
    const endEvents = new RegistryEvents();
    const startEvents = new RegistryEvents();
    endEvents.on('manifest.pushed', (e) => void fromEnd.push(e.digest));
    startEvents.on('manifest.pushed', (e) => void fromStart.push(e.digest));
    const late = new JournalConsumer('late-trigger', store, queue, 'server-a', (entry) => endEvents.deliver(entry.name, entry.payload), quietLog, 'end');
    const everything = consumer('audit-like', store, queue, 'server-a', startEvents);
    try {
      await late.start();
      await everything.start();
      await until(() => fromStart.length === 2, 'the beginning consumer to see the history');
      await waitFor(async () => (await store.journalCursor('late-trigger')) !== null, { what: 'the late consumer to take its place', timeoutMs: 30_000 });
      await push(3);
      late.poke();
      await until(() => fromEnd.length === 1, 'the late consumer to see the new push');
      assert.deepEqual(fromEnd, [digest(3)]);
    } finally {
      await late.stop();
      await everything.stop();
      await store.close();
    }
  });
});
