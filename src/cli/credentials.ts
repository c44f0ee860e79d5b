import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface StoredLogin {
  server: string;
  /** What `-r/--registry` may call it (`berth login -n NAME`), besides its host. */
  name?: string;
  username: string;
  /** A refresh token from the server's token endpoint; the password itself is never stored. */
  refreshToken: string | null;
}

interface CredentialsFile {
  current: string | null;
  servers: Record<string, StoredLogin>;
}

export function configDir(): string {
  return process.env.BERTH_CONFIG_DIR || join(homedir(), '.berth');
}

function credentialsPath(): string {
  return join(configDir(), 'credentials.json');
}

function read(): CredentialsFile {
  const path = credentialsPath();
  if (!existsSync(path)) return { current: null, servers: {} };
  return JSON.parse(readFileSync(path, 'utf8')) as CredentialsFile;
}

function write(file: CredentialsFile): void {
  mkdirSync(configDir(), { recursive: true, mode: 0o700 });
  writeFileSync(credentialsPath(), `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(credentialsPath(), 0o600);
}

export function saveLogin(login: StoredLogin): void {
  const file = read();
  file.servers[login.server] = login;
  file.current = login.server;
  write(file);
}

export function currentLogin(): StoredLogin | null {
  const file = read();
  return file.current ? (file.servers[file.current] ?? null) : null;
}

/**
 * The login `-r/--registry` names: by its name, its host (`host:port`), its URL, or, as az's
 * registry names are, the first label of its host; the current login when none is named.
 */
export function loginFor(registry: string | undefined): StoredLogin | null {
  if (registry === undefined) return currentLogin();
  const logins = Object.values(read().servers);
  const byName = logins.filter((l) => l.name === registry);
  if (byName.length === 1) return byName[0]!;
  const host = (l: StoredLogin): string => new URL(l.server).host;
  const exact = logins.filter((l) => host(l) === registry || l.server === registry.replace(/\/+$/, '') || host(l) === registry.split('/')[0]);
  if (exact.length === 1) return exact[0]!;
  const byLabel = logins.filter((l) => new URL(l.server).hostname.split('.')[0] === registry);
  return byLabel.length === 1 ? byLabel[0]! : null;
}

export function knownLogins(): string[] {
  return Object.values(read().servers).map((l) => (l.name ? `${l.name} (${l.server})` : l.server));
}

export function removeLogin(server?: string): string | null {
  const file = read();
  const target = server ? normalizeServer(server) : file.current;
  if (!target || !file.servers[target]) return null;
  delete file.servers[target];
  if (file.current === target) file.current = Object.keys(file.servers)[0] ?? null;
  write(file);
  return target;
}

/** `host:port` becomes a URL: http on loopback (as docker allows), https elsewhere. */
export function normalizeServer(value: string): string {
  if (/^https?:\/\//.test(value)) return value.replace(/\/+$/, '');
  const host = value.split('/')[0]!;
  const loopback = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$/.test(host);
  return `${loopback ? 'http' : 'https'}://${host}`;
}
