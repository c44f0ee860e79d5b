import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BatchedFileWriter, SyncAhead } from '../src/storage/filesystem/batched-file-writer.js';
import { FileReadStream } from '../src/storage/filesystem/file-read-stream.js';

/**
 * The machine's limits for the blob path: plain node:http with the same file reading and writing
 * as Berth's filesystem store (its FileReadStream and BatchedFileWriter) and nothing else, so the
 * gap to Berth is what Berth's HTTP stack, auth and metadata cost (`node bare-server.js PORT DIR`):
 * - `PUT /bare`: the request body through sha256 into a file, fsync, rename, fsync of the folder
 *   (the durability Berth promises); answers 201 with the hex digest in `Location`;
 * - `GET /bare/<hex>`: a stored file with `Content-Length`, piped to the response in 1 MiB reads
 *   into reused buffers (`?hwm=BYTES`: a plain fs read stream with reads of that size instead);
 * - `GET /v2/`: 200, for the start-up probe.
 */
const [port, dir] = [Number(process.argv[2]), process.argv[3]!];
let n = 0;

const server = createServer((req, res) => {
  if (req.method === 'GET') return void download(req.url ?? '', res);
  const file = join(dir, `upload-${n++}`);
  const hash = createHash('sha256');
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  receive(req, tap, file)
    .then(async () => {
      const hex = hash.digest('hex');
      await rename(file, join(dir, `blob-${hex}`));
      const handle = await open(dir, 'r');
      await handle.sync();
      await handle.close();
      res.writeHead(201, { 'Content-Length': '0', Location: `/bare/${hex}` }).end();
    })
    .catch(() => res.writeHead(500).end());
});

async function receive(req: NodeJS.ReadableStream, tap: Transform, file: string): Promise<void> {
  const handle = await open(file, 'w');
  try {
    await pipeline(req, tap, new BatchedFileWriter(handle, 0, new SyncAhead(handle)));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function download(url: string, res: ServerResponse): Promise<void> {
  const parsed = new URL(url, 'http://bare');
  if (parsed.pathname === '/v2/') return void res.writeHead(200, { 'Content-Length': '0' }).end();
  const file = join(dir, `blob-${parsed.pathname.split('/').pop()}`);
  const highWaterMark = parsed.searchParams.get('hwm');
  try {
    const { size } = await stat(file);
    const source = highWaterMark ? createReadStream(file, { highWaterMark: Number(highWaterMark) }) : new FileReadStream(await open(file, 'r'), 0, Infinity);
    res.writeHead(200, { 'Content-Length': String(size), 'Content-Type': 'application/octet-stream' });
    await pipeline(source, res);
  } catch {
    if (!res.headersSent) res.writeHead(404, { 'Content-Length': '0' });
    res.end();
  }
}

// Like Berth's (65 s) and Distribution's (no limit): with Node's default of 5 s, sockets left idle
// by a long workload are closed just as the client reuses them ("socket hang up").
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
