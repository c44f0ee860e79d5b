import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join, normalize } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { x as extractTar } from 'tar';
import { RegistryError } from '../../registry/errors.js';
import { packContext } from './context-archive.js';
import type { EgressPolicy } from '../../network/egress.js';

/** A context that is fetched when the run starts: a git repository or a tarball URL (ACR's forms). */
export type SourceLocation =
  | { kind: 'git'; url: string; ref: string | null; folder: string | null }
  | { kind: 'tarball'; url: string };

/** A fetched source, unpacked in a folder of the agent's: its files, what git says of it, and its archive. */
export interface FetchedSource {
  /** The context as a fresh tar stream on each call (`.dockerignore` honoured, `.git` left out). */
  archive(): Readable;
  /** A file of the source (the task file of `-f` with a remote context). */
  readFile(path: string): Promise<string>;
  commit: string;
  branch: string;
  dispose(): Promise<void>;
}

const invalid = (message: string) => new RegistryError('INVALID_REQUEST', message);

/** True when a context argument names a remote source rather than a local folder. */
export function isRemoteContext(context: string): boolean {
  return /^(https?|git):\/\//i.test(context) || /^git@[^:]+:/.test(context);
}

/**
 * ACR's context URLs: `https://host/org/repo.git#ref:folder` (ref and folder optional; also
 * `git@host:org/repo.git`), or an http(s) URL of a tarball (anything else).
 */
export function parseSourceLocation(text: string): SourceLocation {
  const hash = text.indexOf('#');
  const base = hash < 0 ? text : text.slice(0, hash);
  const fragment = hash < 0 ? '' : text.slice(hash + 1);
  const sshLike = /^git@[^:]+:.+/.test(base);
  let url: URL | null = null;
  if (!sshLike) {
    try {
      url = new URL(base);
    } catch {
      throw invalid(`invalid context URL "${text}"`);
    }
    if (!['http:', 'https:', 'git:'].includes(url.protocol)) throw invalid(`context URLs are http(s) or git, not ${url.protocol}`);
    if (url.username || url.password) throw invalid('put git credentials in --git-access-token, not in the context URL');
  }
  const isGit = sshLike || url!.protocol === 'git:' || /\.git\/?$/.test(url!.pathname) || fragment !== '';
  if (!isGit) return { kind: 'tarball', url: base };
  const colon = fragment.indexOf(':');
  const ref = (colon < 0 ? fragment : fragment.slice(0, colon)) || null;
  const folder = colon < 0 ? null : fragment.slice(colon + 1).replace(/^\/+|\/+$/g, '') || null;
  if (ref !== null && !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(ref)) throw invalid(`invalid git reference "${ref}"`);
  if (folder !== null && (normalize(folder).startsWith('..') || folder.split('/').includes('..'))) throw invalid(`the context folder "${folder}" leaves the repository`);
  return { kind: 'git', url: base, ref, folder };
}

/** One commit of a git source to check out (a commit trigger's pushed commit), on its branch. */
export interface CommitPin {
  commit: string;
  branch?: string | null;
}

/**
 * Fetches a remote context on the agent's machine (git on its PATH for git sources). Tarballs
 * go through the egress policy; git does its own networking and is not covered by it. With
 * `pin`, a git source is checked out at exactly that commit, never the branch's newer head.
 */
export async function fetchSource(
  location: SourceLocation,
  gitAccessToken: string | null,
  signal: AbortSignal,
  log: (text: string) => void,
  egress: EgressPolicy,
  pin: CommitPin | null = null,
): Promise<FetchedSource> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-source-'));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    if (pin && location.kind !== 'git') throw new Error('a commit can only be checked out of a git context');
    const fetched = location.kind === 'tarball' ? await fetchTarball(location.url, dir, signal, log, egress) : await cloneGit(location, gitAccessToken, dir, signal, log, pin);
    return {
      ...fetched,
      archive: () => packContext(fetched.folder),
      readFile: async (path) => {
        const normalized = normalize(path);
        if (isAbsolute(normalized) || normalized.startsWith('..')) throw new Error(`"${path}" is outside the source`);
        return readFile(join(fetched.folder, normalized), 'utf8').catch(() => {
          throw new Error(`the source has no file "${path}"`);
        });
      },
      dispose,
    };
  } catch (error) {
    await dispose();
    throw error;
  }
}

async function cloneGit(location: Extract<SourceLocation, { kind: 'git' }>, token: string | null, dir: string, signal: AbortSignal, log: (text: string) => void, pin: CommitPin | null) {
  const checkout = join(dir, 'repo');
  // The token goes in through the environment (GIT_CONFIG_*), never on a command line.
  const env: NodeJS.ProcessEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true' };
  if (token) {
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
    env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  }
  const git = (args: string[], cwd = dir) =>
    new Promise<string>((resolve, reject) => {
      execFile('git', args, { cwd, env, signal, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`git ${args[0]} failed: ${(stderr || error.message).trim()}`));
        else resolve(stdout.trim());
      });
    });
  let commit: string;
  let branch: string;
  if (pin) {
    commit = await checkoutCommit(git, location, pin, checkout, log);
    branch = (pin.branch ?? location.ref ?? '').replace(/^refs\/heads\//, '');
  } else {
    const isCommit = location.ref !== null && /^[0-9a-f]{7,40}$/.test(location.ref);
    log(`Cloning ${location.url}${location.ref ? ` at ${location.ref}` : ''}\n`);
    if (isCommit) {
      await git(['clone', '--quiet', '--no-checkout', location.url, checkout]);
      await git(['checkout', '--quiet', location.ref!], checkout);
    } else {
      await git(['clone', '--quiet', '--depth', '1', ...(location.ref ? ['--branch', location.ref] : []), location.url, checkout]);
    }
    commit = await git(['rev-parse', 'HEAD'], checkout);
    // A branch checkout names its branch; a tag or commit is detached, so no branch.
    branch = await git(['symbolic-ref', '--quiet', '--short', 'HEAD'], checkout).catch(() => '');
  }
  const folder = location.folder ? join(checkout, location.folder) : checkout;
  if (!(await stat(folder).catch(() => null))?.isDirectory()) throw new Error(`the repository has no folder "${location.folder}"`);
  log(`Source at commit ${commit}${branch ? ` (branch ${branch})` : ''}\n`);
  return { folder, commit, branch };
}

/**
 * Exactly `pin.commit`: fetched alone when the server allows it (protocol v2 servers do), else
 * found in the branch's full history (a shallow clone of the head would not hold an older commit).
 */
async function checkoutCommit(
  git: (args: string[], cwd?: string) => Promise<string>,
  location: Extract<SourceLocation, { kind: 'git' }>,
  pin: CommitPin,
  checkout: string,
  log: (text: string) => void,
): Promise<string> {
  if (!/^[0-9a-f]{7,64}$/.test(pin.commit)) throw new Error(`"${pin.commit}" is not a commit id`);
  // A push event names refs/heads/main; git fetch wants the branch name.
  const branch = (pin.branch ?? location.ref)?.replace(/^refs\/heads\//, '') ?? null;
  if (branch !== null && !/^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(branch)) throw new Error(`invalid git branch "${branch}"`);
  log(`Cloning ${location.url} at commit ${pin.commit}${branch ? ` (branch ${branch})` : ''}\n`);
  await git(['init', '--quiet', checkout]);
  await git(['remote', 'add', 'origin', location.url], checkout);
  const fullId = /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(pin.commit);
  const alone = fullId ? await git(['fetch', '--quiet', '--depth', '1', 'origin', pin.commit], checkout).then(() => true, () => false) : false;
  if (!alone) {
    const refspec = branch ? `+refs/heads/${branch}:refs/remotes/origin/${branch}` : '+refs/heads/*:refs/remotes/origin/*';
    await git(['fetch', '--quiet', 'origin', refspec], checkout);
  }
  await git(['checkout', '--quiet', '--detach', `${pin.commit}^{commit}`], checkout).catch(() => {
    throw new Error(`commit ${pin.commit} is not in ${location.url}${branch ? ` (branch ${branch})` : ''}`);
  });
  const commit = await git(['rev-parse', 'HEAD'], checkout);
  if (!commit.startsWith(pin.commit)) throw new Error(`commit ${pin.commit} is not in ${location.url}`);
  return commit;
}

async function fetchTarball(url: string, dir: string, signal: AbortSignal, log: (text: string) => void, egress: EgressPolicy) {
  log(`Downloading ${url}\n`);
  // Archive links commonly redirect to another host (GitHub's to codeload); no credentials go with them.
  const response = await egress.fetch(url, { signal, redirect: 'any-origin' });
  if (!response.ok || !response.body) throw new Error(`downloading the context failed: ${response.status} ${response.statusText}`);
  const file = join(dir, 'context.download');
  await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), createWriteStream(file));
  const folder = join(dir, 'source');
  await mkdir(folder);
  // tar detects gzip itself, and keeps entries inside the folder (no absolute paths, no "..").
  await extractTar({ file, cwd: folder, strict: true });
  return { folder, commit: '', branch: '' };
}
