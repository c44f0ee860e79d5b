import type { ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, normalize } from 'node:path';
import { run } from './commands.js';
import { tempDir } from './berth-process.js';
import { spawnTracked, stopProcess } from './processes.js';
import { closeServer } from './http-servers.js';

export interface GitServer {
  /** http://127.0.0.1:PORT */
  url: string;
  root: string;
  /** Requests seen, as "METHOD path authorization?" lines (to check what clients sent). */
  requests: string[];
  /** Stops listening, drops every connection and stops any `git http-backend` still running. Safe twice. */
  close(): Promise<void>;
}

/**
 * A real git smart-HTTP server on loopback: git's own `git http-backend` behind a tiny CGI
 * bridge, serving bare repositories under `root` at /git/NAME.git. Repositories whose name starts
 * with "private" need Basic auth with `token` as the password (as GitHub takes a PAT). Files under
 * root/files are served as they are (tarball contexts).
 */
export async function startGitServer(token: string): Promise<GitServer> {
  const root = tempDir('git-server');
  const requests: string[] = [];
  const backends = new Set<ChildProcess>();
  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const auth = request.headers.authorization ?? '';
    requests.push(`${request.method} ${url.pathname} ${auth ? 'auth' : 'anonymous'}`);
    if (url.pathname.startsWith('/files/')) {
      const path = join(root, normalize(url.pathname).replace(/^\/+/, ''));
      if (!existsSync(path)) return void response.writeHead(404).end('not found');
      response.writeHead(200, { 'Content-Type': 'application/gzip' });
      return void createReadStream(path).pipe(response);
    }
    if (!url.pathname.startsWith('/git/')) return void response.writeHead(404).end();
    const pathInfo = url.pathname.slice('/git'.length);
    if (pathInfo.startsWith('/private')) {
      const password = /^basic /i.test(auth) ? Buffer.from(auth.slice(6), 'base64').toString().split(':').slice(1).join(':') : '';
      if (password !== token) return void response.writeHead(401, { 'WWW-Authenticate': 'Basic realm="git"' }).end('authentication required');
    }
    const cgi = spawnTracked('git', ['http-backend'], {
      env: {
        PATH: process.env.PATH,
        GIT_PROJECT_ROOT: root,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: pathInfo,
        REQUEST_METHOD: request.method,
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: request.headers['content-type'] ?? '',
        REMOTE_ADDR: '127.0.0.1',
        REMOTE_USER: auth ? 'token' : '',
        ...(request.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: request.headers['content-encoding'] } : {}),
        ...(request.headers['git-protocol'] ? { GIT_PROTOCOL: String(request.headers['git-protocol']) } : {}),
      },
    });
    backends.add(cgi);
    cgi.once('exit', () => backends.delete(cgi));
    cgi.stdin!.on('error', () => undefined);
    request.pipe(cgi.stdin!);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout!.on('data', (chunk: Buffer) => {
      if (headersDone) return void response.write(chunk);
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString().split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number(value.split(' ')[0]);
        else headers[name] = value;
      }
      response.writeHead(status, headers);
      response.write(head.subarray(end + 4));
    });
    cgi.on('close', () => response.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    root,
    requests,
    close: async () => {
      const closed = closeServer(server);
      await Promise.all([...backends].map((cgi) => stopProcess(cgi, { graceMs: 5_000 })));
      await closed;
    },
  };
}

/** Makes a bare repository root/NAME.git from `files` committed on `branch`; returns the commit. */
export async function createRepository(server: GitServer, name: string, branch: string, files: Record<string, string>, extraBranch?: { name: string; files: Record<string, string> }): Promise<{ commit: string; extraCommit?: string }> {
  const work = tempDir(`git-work-${name}`);
  const git = (args: string[]) => run('git', ['-C', work, '-c', 'user.name=Berth Tests', '-c', 'user.email=tests@berth.invalid', ...args]);
  await git(['init', '--quiet', '--initial-branch', branch]);
  const write = (content: Record<string, string>) => {
    for (const [path, text] of Object.entries(content)) {
      mkdirSync(dirname(join(work, path)), { recursive: true });
      writeFileSync(join(work, path), text);
    }
  };
  write(files);
  await git(['add', '-A']);
  await git(['commit', '--quiet', '-m', 'first']);
  const commit = (await git(['rev-parse', 'HEAD'])).trim();
  let extraCommit: string | undefined;
  if (extraBranch) {
    await git(['checkout', '--quiet', '-b', extraBranch.name]);
    write(extraBranch.files);
    await git(['add', '-A']);
    await git(['commit', '--quiet', '-m', 'second']);
    extraCommit = (await git(['rev-parse', 'HEAD'])).trim();
    await git(['checkout', '--quiet', branch]);
  }
  await run('git', ['clone', '--quiet', '--bare', work, join(server.root, `${name}.git`)]);
  return { commit, ...(extraCommit ? { extraCommit } : {}) };
}

/** Commits `files` on top of `branch` of root/NAME.git (as a developer's push); returns the new commit. */
export async function pushCommit(server: GitServer, name: string, branch: string, files: Record<string, string>): Promise<string> {
  const work = tempDir(`git-push-${name}`);
  const git = (args: string[]) => run('git', ['-C', work, '-c', 'user.name=Berth Tests', '-c', 'user.email=tests@berth.invalid', ...args]);
  await run('git', ['clone', '--quiet', '--branch', branch, join(server.root, `${name}.git`), work]);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), text);
  }
  await git(['add', '-A']);
  await git(['commit', '--quiet', '-m', `change ${Object.keys(files).join(', ')}`]);
  await git(['push', '--quiet', 'origin', branch]);
  return (await git(['rev-parse', 'HEAD'])).trim();
}
