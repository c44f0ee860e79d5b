import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID, createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../src/storage/blob-store.js';

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The contract every BlobStore backend must honour; each driver's test file runs it. */
export function blobStoreSuite(name: string, makeStore: () => Promise<BlobStore>): void {
  describe(`BlobStore contract: ${name}`, () => {
    it('put, stat, read (whole and ranged), delete', async () => {
      const store = await makeStore();
      const data = randomBytes(5000);
      const digest = digestOf(data);
      assert.equal(await store.stat(digest), null);
      await store.put(digest, data);
      assert.equal(await store.stat(digest), 5000);
      assert.deepEqual(await readAll(await store.read(digest)), data);
      assert.deepEqual(await readAll(await store.read(digest, { start: 10, end: 19 })), data.subarray(10, 20));
      await store.delete(digest);
      assert.equal(await store.stat(digest), null);
      await assert.rejects(store.read(digest));
    });

    it('uploads append in order, truncate leftovers past the offset, and commit atomically', async () => {
      const store = await makeStore();
      const id = randomUUID();
      const data = randomBytes(30_000);
      await store.createUpload(id);
      assert.equal(await store.appendUpload(id, 0, Readable.from([data.subarray(0, 10_000)])), 10_000);
      // a partial chunk written past the recorded offset (as after a crash) is discarded
      assert.equal(await store.appendUpload(id, 10_000, Readable.from([randomBytes(777)])), 10_777);
      assert.equal(await store.appendUpload(id, 10_000, Readable.from([data.subarray(10_000)])), 30_000);
      assert.deepEqual(await readAll(await store.readUpload(id)), data);
      const digest = digestOf(data);
      await store.commitUpload(id, digest);
      assert.equal(await store.stat(digest), 30_000);
      assert.deepEqual(await readAll(await store.read(digest)), data);
      await assert.rejects(store.readUpload(id).then(readAll));
    });

    it('committing content that is already stored keeps one intact copy', async () => {
      const store = await makeStore();
      const data = randomBytes(1000);
      const digest = digestOf(data);
      await store.put(digest, data);
      const id = randomUUID();
      await store.createUpload(id);
      await store.appendUpload(id, 0, Readable.from([data]));
      await store.commitUpload(id, digest);
      assert.deepEqual(await readAll(await store.read(digest)), data);
    });

    it('an upload that never received a byte commits as the empty blob', async () => {
      const store = await makeStore();
      const id = randomUUID();
      const empty = Buffer.alloc(0);
      await store.createUpload(id);
      assert.equal(await store.appendUpload(id, 0, Readable.from([])), 0);
      await store.commitUpload(id, digestOf(empty));
      assert.equal(await store.stat(digestOf(empty)), 0);
      assert.deepEqual(await readAll(await store.read(digestOf(empty))), empty);
      const untouched = randomUUID();
      await store.createUpload(untouched);
      await store.commitUpload(untouched, digestOf(empty));
      assert.equal(await store.stat(digestOf(empty)), 0);
    });

    it('a last chunk is durable on its own; a chunk after it still reaches the committed blob', async () => {
      const store = await makeStore();
      const id = randomUUID();
      const data = randomBytes(20_000);
      await store.createUpload(id);
      assert.equal(await store.appendUpload(id, 0, Readable.from([data.subarray(0, 5_000)]), { last: true }), 5_000);
      // a client that goes on after what looked like its last chunk (a retried PUT, say)
      assert.equal(await store.appendUpload(id, 5_000, Readable.from([data.subarray(5_000)]), { last: true }), 20_000);
      await store.commitUpload(id, digestOf(data));
      assert.deepEqual(await readAll(await store.read(digestOf(data))), data);
    });

    it('a chunk that fails part-way counts for nothing, and the next one goes on from the same offset', async () => {
      const store = await makeStore();
      const id = randomUUID();
      const data = randomBytes(3 * 1024 * 1024);
      await store.createUpload(id);
      assert.equal(await store.appendUpload(id, 0, Readable.from([data.subarray(0, 1000)])), 1000);
      const failing = new Readable({ read() {} });
      failing.push(randomBytes(2 * 1024 * 1024));
      setImmediate(() => failing.destroy(Object.assign(new Error('client went away'), { code: 'ECONNRESET' })));
      await assert.rejects(store.appendUpload(id, 1000, failing), /client went away/);
      assert.equal(await store.appendUpload(id, 1000, Readable.from([data.subarray(1000)])), data.length);
      await store.commitUpload(id, digestOf(data));
      assert.deepEqual(await readAll(await store.read(digestOf(data))), data);
    });

    it('deleting an upload is idempotent', async () => {
      const store = await makeStore();
      const id = randomUUID();
      await store.createUpload(id);
      await store.deleteUpload(id);
      await store.deleteUpload(id);
    });

    it('refuses identifiers that are not digests or upload ids', async () => {
      const store = await makeStore();
      await assert.rejects(() => store.stat('../../etc/passwd'));
      await assert.rejects(() => store.createUpload('../escape'));
    });
  });
}
