import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openSqliteMetadataStore } from '../../src/metadata/sql/sqlite.js';
import { RegistryEvents } from '../../src/events/registry-events.js';
import { EventRelay } from '../../src/events/event-relay.js';
import { manifest as storedManifest } from '../storage/metadata-store-suite.js';
import { tempDir } from '../helpers/berth-process.js';
import { waitFor } from '../helpers/wait.js';

const digest = (n: number) => `sha256:${String(n).padStart(64, '0')}`;
const manifest = (n: number) => storedManifest('relay/repo', digest(n));
const quietLog = { error: () => undefined, info: () => undefined };

const until = (check: () => boolean, what: string) => waitFor(check, { what, timeoutMs: 30_000, intervalMs: 50 });

describe('event relay (the registry event journal)', () => {
  it('delivers what was committed while nobody listened, in order; a failing listener is retried; the cursor survives a restart', async () => {
    const file = join(tempDir('relay'), 'metadata.db');
    const store = await openSqliteMetadataStore(file);
    const writer = new RegistryEvents();
    const push = (n: number) =>
      store.putManifest(manifest(n), [], `t${n}`, (previousDigest) => [
        writer.journalEntry('manifest.pushed', { repository: 'relay/repo', digest: digest(n), tag: `t${n}`, mediaType: 'm', size: 2, previousDigest }),
      ]);
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
    const relay = new EventRelay(store, events, quietLog);
    await relay.start();
    await until(() => seen.includes(digest(3)), 'the relay to deliver event 3');
    // Event 2 reached the first listener twice (at least once), and 3 only after 2 went through.
    assert.deepEqual(seen, [digest(1), digest(2), digest(2), digest(3)]);
    await relay.stop();

    // A restarted relay resumes after the saved cursor: nothing old again, the new one once.
    const restartedEvents = new RegistryEvents();
    const after: string[] = [];
    restartedEvents.on('manifest.pushed', (e) => void after.push(e.digest));
    const restarted = new EventRelay(store, restartedEvents, quietLog);
    await restarted.start();
    await push(4);
    restartedEvents.committed();
    await until(() => after.length > 0, 'the restarted relay to deliver event 4');
    await restarted.stop();
    assert.deepEqual(after, [digest(4)]);
    await store.close();
  });
});
