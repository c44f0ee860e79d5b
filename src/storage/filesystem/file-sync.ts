import { open } from 'node:fs/promises';

/** Flushes a file or folder to disk through a handle of its own. */
export async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
