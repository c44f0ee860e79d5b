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

/** Larger files are refused: a task file, alias file or Dockerfile is never this big, and the server holds it in memory. */
export const maxArchiveFileBytes = 8 * 1024 * 1024;

/** One file's text out of a context archive (an alias src file, a Dockerfile), or null. */
export async function readArchiveFile(archive: Readable, path: string): Promise<string | null> {
  const wanted = archivePath(path);
  let found: string | null = null;
  let tooLarge = false;
  const parser = new TarParser({
    onReadEntry: (entry) => {
      if (archivePath(entry.path) !== wanted || !['File', 'OldFile', 'ContiguousFile'].includes(entry.type)) return void entry.resume();
      if ((entry.size ?? 0) > maxArchiveFileBytes) {
        tooLarge = true;
        return void entry.resume();
      }
      const chunks: Buffer[] = [];
      entry.on('data', (chunk: Buffer) => chunks.push(chunk));
      entry.on('end', () => (found = Buffer.concat(chunks).toString('utf8')));
    },
  });
  await pipeline(archive, parser as unknown as NodeJS.WritableStream);
  if (tooLarge && found === null) throw new Error(`"${path}" in the context is larger than ${maxArchiveFileBytes} bytes`);
  return found;
}

/**
 * `readFile` over an archive that can be opened again (an uploaded context: `() =>
 * contexts.open(id)`): each file read is one pass over the archive, and read once.
 */
export function archiveFileReader(open: () => Promise<Readable>): (path: string) => Promise<string | null> {
  const cache = new Map<string, Promise<string | null>>();
  return (path) => {
    const key = archivePath(path);
    let text = cache.get(key);
    if (!text) {
      text = open().then((archive) => readArchiveFile(archive, path));
      cache.set(key, text);
    }
    return text;
  };
}

/** Entries are `./Dockerfile` or `Dockerfile` depending on who packed them; compare them alike. */
function archivePath(path: string): string {
  return posix.normalize(path).replace(/^(\.\/)+/, '').replace(/^\/+/, '');
}
