import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import ignore from 'ignore';
import { create as createTar } from 'tar';

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
