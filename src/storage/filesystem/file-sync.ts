import { open } from 'node:fs/promises';

/**
 * Flushes a file or folder to disk through a handle of its own. `dataOnly` (fdatasync) skips
 * metadata such as timestamps: enough for a background flush ahead of the final fsync.
 */
export async function syncPath(path: string, options: { dataOnly?: boolean } = {}): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await (options.dataOnly ? handle.datasync() : handle.sync());
  } finally {
    await handle.close();
  }
}
