import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface StoredLogin {
  server: string;
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
