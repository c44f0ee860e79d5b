import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative } from 'node:path';
import { Readable } from 'node:stream';
import ignore from 'ignore';
import { create as createTar, Parser as TarParser } from 'tar';
import { pipeline } from 'node:stream/promises';

/**
 * Packs a local folder as a build context: `.dockerignore` honoured (Docker's pattern rules,
 * `!` exceptions included), `.git` always left out, as ACR's quick build does.
 */
export function packContext(folder: string): Readable {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) throw new Error(`context "${folder}" is not a folder`);
  const rules = ignore().add('.git');
  const dockerignore = join(folder, '.dockerignore');
  if (existsSync(dockerignore)) rules.add(readFileSync(dockerignore, 'utf8'));
  // tar streams are Minipass streams; Readable.from makes them ordinary Node streams.
  const archive = createTar(
    {
      cwd: folder,
      portable: true,
      filter: (path) => {
        const rel = relative('.', path);
        if (rel === '' || rel === '.') return true;
        // The Dockerfile and .dockerignore always go (the engine needs them even when ignored).
        if (rel === 'Dockerfile' || rel === '.dockerignore') return true;
        return !rules.ignores(rel);
      },
    },
    ['.'],
  );
  return Readable.from(archive as unknown as AsyncIterable<Buffer>);
}

/** One file's text out of a context archive (an alias src file in an uploaded context), or null. */
export async function readArchiveFile(archive: Readable, path: string): Promise<string | null> {
  const wanted = posix.normalize(path).replace(/^(\.\/)+/, '');
  let found: string | null = null;
  const parser = new TarParser({
    onReadEntry: (entry) => {
      if (posix.normalize(entry.path).replace(/^(\.\/)+/, '') !== wanted) return void entry.resume();
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => (found = Buffer.concat(chunks).toString('utf8')));
    },
  });
  await pipeline(archive, parser as unknown as NodeJS.WritableStream);
  return found;
}
