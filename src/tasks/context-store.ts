import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError } from '../registry/errors.js';

/** Maximum uploaded source context (ACR's limit is similar in spirit). */
export const maxContextBytes = 1024 * 1024 * 1024;

/** Uploaded build contexts (tar archives), kept until their run is done with them. */
export class ContextStore {
  private readonly dir: string;

  constructor(dataDir: string) {
    this.dir = join(dataDir, 'contexts');
  }

  async save(data: Readable): Promise<{ id: string; size: number }> {
    await mkdir(this.dir, { recursive: true });
    const id = randomUUID();
    let size = 0;
    data.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxContextBytes) data.destroy(new RegistryError('SIZE_INVALID', 'source context too large', undefined, { status: 413 }));
    });
    await pipeline(data, createWriteStream(this.path(id)));
    return { id, size };
  }

  async open(id: string): Promise<Readable> {
    await stat(this.path(id)).catch(() => {
      throw new RegistryError('NOT_FOUND', `source context ${id} not found`);
    });
    return createReadStream(this.path(id));
  }

  async delete(id: string): Promise<void> {
    await rm(this.path(id), { force: true });
  }

  private path(id: string): string {
    if (!/^[a-f0-9-]{36}$/.test(id)) throw new RegistryError('INVALID_REQUEST', 'invalid context id');
    return join(this.dir, `${id}.tar`);
  }
}
