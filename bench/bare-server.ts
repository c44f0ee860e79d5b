import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * The machine's limits for the blob path, with plain node:http and nothing else
 * (`node bare-server.js PORT DIR`):
 * - `PUT /bare`: the request body through sha256 into a file, fsync, rename, fsync of the folder
 *   (the durability Berth promises); answers 201 with the hex digest in `Location`;
 * - `GET /bare/<hex>`: a stored file with `Content-Length`, a read stream piped to the response
 *   (1 MiB reads, the fastest plain way measured; `?hwm=BYTES` tries another size);
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
  pipeline(req, tap, createWriteStream(file, { flush: true }))
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

async function download(url: string, res: ServerResponse): Promise<void> {
  const parsed = new URL(url, 'http://bare');
  if (parsed.pathname === '/v2/') return void res.writeHead(200, { 'Content-Length': '0' }).end();
  const file = join(dir, `blob-${parsed.pathname.split('/').pop()}`);
  const highWaterMark = Number(parsed.searchParams.get('hwm') ?? 1024 * 1024);
  try {
    const { size } = await stat(file);
    res.writeHead(200, { 'Content-Length': String(size), 'Content-Type': 'application/octet-stream' });
    await pipeline(createReadStream(file, { highWaterMark }), res);
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
