import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

export interface Settings {
  host: string;
  port: number;
  dataDir: string;
  tls: { certFile: string; keyFile: string } | null;
  logLevel: string;
}

/** Options as given on the command line; absent ones fall back to env, config file, defaults. */
export interface SettingsOverrides {
  listen?: string;
  dataDir?: string;
  config?: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel?: string;
}

interface ConfigFile {
  listen?: string;
  dataDir?: string;
  tls?: { cert?: string; key?: string };
  logLevel?: string;
}

export const defaultListen = '127.0.0.1:5000';
export const defaultDataDir = './berth-data';

export class SettingsError extends Error {}

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(\[[^\]]+\]|[^:]*):(\d{1,5})$/.exec(value.trim());
  const port = match ? Number(match[2]) : NaN;
  if (!match || port > 65535) throw new SettingsError(`invalid listen address "${value}": expected HOST:PORT`);
  const host = match[1]!.replace(/^\[|\]$/g, '') || '0.0.0.0';
  return { host, port };
}

function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new SettingsError(`cannot read config file ${path}: ${(error as Error).message}`);
  }
  const parsed: unknown = parseYaml(text);
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new SettingsError(`config file ${path} must be a YAML mapping`);
  const known = new Set(['listen', 'dataDir', 'tls', 'logLevel']);
  const unknown = Object.keys(parsed).filter((k) => !known.has(k));
  if (unknown.length > 0) throw new SettingsError(`config file ${path}: unknown keys ${unknown.join(', ')}`);
  return parsed as ConfigFile;
}

/** Flags win over environment variables, which win over the config file, which wins over defaults. */
export function resolveSettings(overrides: SettingsOverrides, processEnv: NodeJS.ProcessEnv = process.env): Settings {
  // An empty variable (FOO= berth serve) means "not set", not "set to nothing".
  const env = Object.fromEntries(Object.entries(processEnv).filter(([, v]) => v !== '')) as NodeJS.ProcessEnv;
  const configPath = overrides.config ?? env.BERTH_CONFIG;
  const file = configPath ? readConfigFile(configPath) : {};
  const listen = overrides.listen ?? env.BERTH_LISTEN ?? file.listen ?? defaultListen;
  const { host, port } = parseListen(listen);
  const certFile = overrides.tlsCert ?? env.BERTH_TLS_CERT ?? file.tls?.cert;
  const keyFile = overrides.tlsKey ?? env.BERTH_TLS_KEY ?? file.tls?.key;
  if (Boolean(certFile) !== Boolean(keyFile)) throw new SettingsError('TLS needs both a certificate and a key');
  return {
    host,
    port,
    dataDir: resolve(overrides.dataDir ?? env.BERTH_DATA_DIR ?? file.dataDir ?? defaultDataDir),
    tls: certFile && keyFile ? { certFile: resolve(certFile), keyFile: resolve(keyFile) } : null,
    logLevel: overrides.logLevel ?? env.BERTH_LOG_LEVEL ?? file.logLevel ?? 'info',
  };
}

/** What is printed at start: every setting, never a secret (TLS material is named by path only). */
export function describeSettings(settings: Settings): Record<string, unknown> {
  return {
    listen: `${settings.host}:${settings.port}`,
    dataDir: settings.dataDir,
    metadata: 'sqlite',
    blobStorage: 'filesystem',
    tls: settings.tls ? { cert: settings.tls.certFile, key: settings.tls.keyFile } : 'off',
    logLevel: settings.logLevel,
  };
}
