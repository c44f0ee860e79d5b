import { existsSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { isRemoteContext } from '../tasks/sources/remote-source.js';
import { packContext } from '../tasks/sources/context-archive.js';
import { CliError, type ApiClient } from './api-client.js';

/**
 * The source fields of a run or task request for a context argument: a local folder is packed
 * and uploaded; a git or tarball URL is sent as is (the agent fetches it when the run starts);
 * `/dev/null` means no source.
 */
export async function sourceFields(client: ApiClient, context: string, gitAccessToken?: string): Promise<{ contextId?: string | null; contextUrl?: string; gitAccessToken?: string }> {
  if (gitAccessToken && !isRemoteContext(context)) throw new CliError('--git-access-token goes with a git context URL');
  if (context === '/dev/null') return { contextId: null };
  if (isRemoteContext(context)) return { contextUrl: context, ...(gitAccessToken ? { gitAccessToken } : {}) };
  if (!existsSync(context) || !statSync(context).isDirectory()) throw new CliError(`context "${context}" is not a folder, a git URL or a tarball URL`);
  const { id } = await client.call<{ id: string }>('POST', '/api/v1/contexts', Readable.toWeb(packContext(context)), 'application/x-tar');
  return { contextId: id };
}
