import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readArchiveFile } from './context-archive.js';

/** A context archive kept in a file for as long as it is needed: read more than once, fetched once. */
export interface SpooledArchive {
  open(): Readable;
  readFile(path: string): Promise<string | null>;
  dispose(): Promise<void>;
}

/**
 * Writes `archive` to a temporary file. A build's Dockerfile must be read before the engine gets
 * the context (its bases decide what to pull), and fetching the context twice would cost a
 * remote agent a second download of up to 1 GiB.
 */
export async function spoolArchive(archive: Readable): Promise<SpooledArchive> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-context-'));
  const file = join(dir, 'context.tar');
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    await pipeline(archive, createWriteStream(file));
  } catch (error) {
    await dispose();
    throw error;
  }
  return { open: () => createReadStream(file), readFile: (path) => readArchiveFile(createReadStream(file), path), dispose };
}
