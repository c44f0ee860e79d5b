import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { FilesystemBlobStore } from '../../src/storage/filesystem/fs-blob-store.js';
import { tempDir } from '../helpers/berth-process.js';
import { blobStoreSuite } from './blob-store-suite.js';

blobStoreSuite('filesystem', async () => {
  const store = new FilesystemBlobStore(tempDir('fs-store'));
  await store.init();
  return store;
});

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** This process's open file descriptors on files under `dir`. */
function openFilesUnder(dir: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${dir}/`)) count++;
    } catch {
      // closed while listing
    }
  }
  return count;
}

describe('filesystem blob store: upload files', () => {
  it('keeps an upload file open between chunks, closes it at commit and cancel, and keeps at most 256 idle ones', async () => {
    const root = tempDir('fs-store-handles');
    const store = new FilesystemBlobStore(root);
    await store.init();
    const uploads = join(root, 'uploads');
    const data = randomBytes(4096);
    const committed = randomUUID();
    await store.createUpload(committed);
    await store.appendUpload(committed, 0, Readable.from([data.subarray(0, 1000)]));
    assert.equal(openFilesUnder(uploads), 1);
    await store.appendUpload(committed, 1000, Readable.from([data.subarray(1000)]));
    assert.equal(openFilesUnder(uploads), 1);
    await store.commitUpload(committed, digestOf(data));
    assert.equal(openFilesUnder(uploads), 0);

    const cancelled = randomUUID();
    await store.createUpload(cancelled);
    await store.appendUpload(cancelled, 0, Readable.from([data]));
    await store.deleteUpload(cancelled);
    assert.equal(openFilesUnder(uploads), 0);

    // Abandoned uploads: their handles are closed as new uploads come by, beyond 256.
    const abandoned = Array.from({ length: 300 }, () => randomUUID());
    for (const id of abandoned) {
      await store.createUpload(id);
      await store.appendUpload(id, 0, Readable.from([data.subarray(0, 10)]));
    }
    const open = openFilesUnder(uploads);
    assert.ok(open <= 256 && open >= 200, `${open} upload files open`);
    // The oldest were closed, and still take their next chunk (reopened from disk).
    assert.equal(await store.appendUpload(abandoned[0]!, 10, Readable.from([data.subarray(10)])), data.length);
    await store.commitUpload(abandoned[0]!, digestOf(data));
    assert.deepEqual(Buffer.concat(await (await store.read(digestOf(data))).toArray()), data);
    for (const id of abandoned.slice(1)) await store.deleteUpload(id);
    assert.equal(openFilesUnder(uploads), 0);
  });

  it('a store started on the same folder (a restart) resumes an upload, dropping bytes past the recorded size', async () => {
    const root = tempDir('fs-store-restart');
    const before = new FilesystemBlobStore(root);
    await before.init();
    const id = randomUUID();
    const data = randomBytes(20_000);
    await before.createUpload(id);
    await before.appendUpload(id, 0, Readable.from([data.subarray(0, 8_000)]));
    // Written, but the session still says 8,000 (a crash before the size was recorded).
    await before.appendUpload(id, 8_000, Readable.from([randomBytes(500)]));
    const after = new FilesystemBlobStore(root);
    await after.init();
    assert.equal(await after.appendUpload(id, 8_000, Readable.from([data.subarray(8_000)])), 20_000);
    await after.commitUpload(id, digestOf(data));
    assert.deepEqual(Buffer.concat(await (await after.read(digestOf(data))).toArray()), data);
  });
});
