import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { acrPresets, type RateLimitPolicy, type RateLimitPreset } from '../auth/rate-limits.js';
import { isLogFormat, logFormats, type LogFormat } from '../observability/logger.js';
import { defaultEgressDeny, validateEgressRules } from '../network/egress.js';

export type AuthMode = 'required' | 'none';

export interface Settings {
  host: string;
  port: number;
  dataDir: string;
  tls: { certFile: string; keyFile: string } | null;
  logLevel: string;
  /** auto (pretty on a terminal, JSON lines otherwise), json or pretty. */
  logFormat: LogFormat;
  auth: AuthMode;
  /** Signed-in identities unlimited unless asked; anonymous callers per address. */
  rateLimit: RateLimitPolicy;
  /** The URL clients use (behind a proxy, a DNS name): names the token realm and service. */
  publicUrl: URL | null;
  http: {
    /** An upload body that sends nothing for this long is cut off (0 = never). */
    bodyIdleSeconds: number;
    /** On SIGTERM, requests still running after this long are cut off. */
    shutdownDrainSeconds: number;
  };
  loginThrottle: { maxFailures: number; windowSeconds: number };
  tokenLifetimes: { accessSeconds: number; refreshSeconds: number };
  webhookRetry: { initialBackoffMs: number; maxBackoffMs: number; giveUpAfterHours: number };
  /** Only read on first start, to create the admin user; never printed. */
  adminPassword: string | undefined;
  /** Key for secrets at rest: BERTH_SECRET_KEY (never printed), or a key file. */
  secretKey: string | undefined;
  secretKeyFile: string | undefined;
  runLogRetentionDays: number;
  /** Run an agent inside the server (default); off when only remote agents should execute runs. */
  localAgent: boolean;
  /** Shared key remote agents present (BERTH_AGENT_KEY or a key file); no key, no agent API. */
  agentKey: string | undefined;
  /** A run whose agent has not renewed its lease for this long ends as Error. */
  runLeaseSeconds: number;
  /** Base images in other registries are polled this often (±20% jitter). */
  triggers: { basePollSeconds: number };
  /** Images for the first word of a task cmd (ACR's `bash`, `curl`, ...); config file only. */
  taskImageAliases: Record<string, string>;
  /** Outbound requests made on a user's behalf (import, webhooks, task sources): added denies, exceptions. */
  egress: { deny: string[]; allow: string[] };
  /** Online garbage collection (see docs/ARCHITECTURE.md, Garbage collection). */
  gc: { graceSeconds: number; uploadMaxAgeSeconds: number; intervalSeconds: number };
  /** Soft delete's day, in seconds: 86 400; shorter only in tests (BERTH_SOFT_DELETE_DAY_SECONDS, env only). */
  softDelete: { daySeconds: number };
  /** Lifecycle policies are evaluated this often (see docs/ARCHITECTURE.md, Lifecycle policies). */
  lifecycle: { policyIntervalSeconds: number };
}

/** Options as given on the command line; absent ones fall back to env, config file, defaults. */
export interface SettingsOverrides {
  listen?: string;
  dataDir?: string;
  config?: string;
  tlsCert?: string;
  tlsKey?: string;
  logLevel?: string;
  logFormat?: string;
  auth?: string;
  secretKeyFile?: string;
  /** commander's --no-local-agent */
  localAgent?: boolean;
  agentKeyFile?: string;
  publicUrl?: string;
}

interface ConfigFile {
  publicUrl?: string;
  http?: { bodyIdleSeconds?: number; shutdownDrainSeconds?: number };
  runLeaseSeconds?: number;
  localAgent?: boolean;
  agentKeyFile?: string;
  secretKeyFile?: string;
  runLogRetentionDays?: number;
  taskImageAliases?: Record<string, string>;
  listen?: string;
  dataDir?: string;
  tls?: { cert?: string; key?: string };
  logLevel?: string;
  logFormat?: string;
  auth?: string;
  rateLimit?: { requestsPerSecond?: number; burst?: number; preset?: string; anonymous?: { requestsPerSecond?: number; burst?: number } };
  loginThrottle?: { maxFailures?: number; windowSeconds?: number };
  tokens?: { accessSeconds?: number; refreshSeconds?: number };
  webhooks?: { initialBackoffMs?: number; maxBackoffMs?: number; giveUpAfterHours?: number };
  egress?: { deny?: string[] | string; allow?: string[] | string };
  triggers?: { basePollSeconds?: number };
  gc?: { graceSeconds?: number; uploadMaxAgeSeconds?: number; intervalSeconds?: number };
  lifecycle?: { policyIntervalSeconds?: number };
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
  const known = new Set(['listen', 'dataDir', 'tls', 'logLevel', 'logFormat', 'auth', 'rateLimit', 'loginThrottle', 'tokens', 'webhooks', 'secretKeyFile', 'runLogRetentionDays', 'taskImageAliases', 'gc', 'localAgent', 'agentKeyFile', 'runLeaseSeconds', 'publicUrl', 'http', 'egress', 'triggers', 'lifecycle']);
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
  const auth = overrides.auth ?? env.BERTH_AUTH ?? file.auth ?? 'required';
  if (auth !== 'required' && auth !== 'none') throw new SettingsError(`invalid auth mode "${auth}": use "required" or "none"`);
  const logFormat = overrides.logFormat ?? env.BERTH_LOG_FORMAT ?? file.logFormat ?? 'auto';
  if (!isLogFormat(logFormat)) throw new SettingsError(`invalid log format "${logFormat}": use ${logFormats.join(', ')}`);
  return {
    host,
    port,
    dataDir: resolve(overrides.dataDir ?? env.BERTH_DATA_DIR ?? file.dataDir ?? defaultDataDir),
    tls: certFile && keyFile ? { certFile: resolve(certFile), keyFile: resolve(keyFile) } : null,
    logLevel: overrides.logLevel ?? env.BERTH_LOG_LEVEL ?? file.logLevel ?? 'info',
    logFormat,
    auth,
    rateLimit: {
      authenticated: {
        requestsPerSecond: number('rate limit', env.BERTH_RATE_LIMIT_RPS ?? file.rateLimit?.requestsPerSecond ?? 0),
        burst: number('rate limit burst', env.BERTH_RATE_LIMIT_BURST ?? file.rateLimit?.burst ?? 300),
      },
      anonymous: {
        requestsPerSecond: number('anonymous rate limit', env.BERTH_ANONYMOUS_RATE_LIMIT_RPS ?? file.rateLimit?.anonymous?.requestsPerSecond ?? 100),
        burst: number('anonymous rate limit burst', env.BERTH_ANONYMOUS_RATE_LIMIT_BURST ?? file.rateLimit?.anonymous?.burst ?? 1000),
      },
      preset: ratePreset(env.BERTH_RATE_LIMIT_PRESET ?? file.rateLimit?.preset),
    },
    publicUrl: publicUrl(overrides.publicUrl ?? env.BERTH_PUBLIC_URL ?? file.publicUrl),
    http: {
      bodyIdleSeconds: number('body idle timeout', env.BERTH_BODY_IDLE_SECONDS ?? file.http?.bodyIdleSeconds ?? 60),
      shutdownDrainSeconds: number('shutdown drain time', env.BERTH_SHUTDOWN_DRAIN_SECONDS ?? file.http?.shutdownDrainSeconds ?? 30),
    },
    loginThrottle: {
      maxFailures: number('login failures', env.BERTH_LOGIN_MAX_FAILURES ?? file.loginThrottle?.maxFailures ?? 10),
      windowSeconds: number('login window', file.loginThrottle?.windowSeconds ?? 300),
    },
    tokenLifetimes: {
      accessSeconds: number('access token lifetime', file.tokens?.accessSeconds ?? 300),
      refreshSeconds: number('refresh token lifetime', file.tokens?.refreshSeconds ?? 7 * 24 * 3600),
    },
    webhookRetry: {
      initialBackoffMs: number('webhook backoff', env.BERTH_WEBHOOK_BACKOFF_MS ?? file.webhooks?.initialBackoffMs ?? 1000),
      maxBackoffMs: number('webhook max backoff', file.webhooks?.maxBackoffMs ?? 300_000),
      giveUpAfterHours: number('webhook give-up time', file.webhooks?.giveUpAfterHours ?? 24),
    },
    adminPassword: env.BERTH_ADMIN_PASSWORD,
    secretKey: env.BERTH_SECRET_KEY,
    secretKeyFile: overrides.secretKeyFile ?? env.BERTH_SECRET_KEY_FILE ?? file.secretKeyFile,
    runLogRetentionDays: number('run log retention', env.BERTH_RUN_LOG_RETENTION_DAYS ?? file.runLogRetentionDays ?? 30),
    localAgent: overrides.localAgent === false ? false : env.BERTH_LOCAL_AGENT !== undefined ? flag('BERTH_LOCAL_AGENT', env.BERTH_LOCAL_AGENT) : (file.localAgent ?? true),
    agentKey: checkAgentKey(env.BERTH_AGENT_KEY ?? readKeyFile(overrides.agentKeyFile ?? env.BERTH_AGENT_KEY_FILE ?? file.agentKeyFile)),
    runLeaseSeconds: Math.max(3, number('run lease', env.BERTH_RUN_LEASE_SECONDS ?? file.runLeaseSeconds ?? 30)),
    taskImageAliases: Object.fromEntries(Object.entries(file.taskImageAliases ?? {}).map(([k, v]) => [k, String(v)])),
    triggers: { basePollSeconds: Math.max(1, number('base image poll interval', env.BERTH_BASE_POLL_SECONDS ?? file.triggers?.basePollSeconds ?? 300)) },
    // 24 h (GitLab's review delay): a push may take that long between checking a layer and
    // pushing the manifest that uses it, and a default must never break a slow push.
    gc: {
      graceSeconds: number('gc grace period', env.BERTH_GC_GRACE_SECONDS ?? file.gc?.graceSeconds ?? 86_400),
      // Distribution's uploadpurging age (168 h): no resumable upload is cut sooner than there.
      uploadMaxAgeSeconds: number('gc upload age', env.BERTH_GC_UPLOAD_MAX_AGE_SECONDS ?? file.gc?.uploadMaxAgeSeconds ?? 7 * 86_400),
      intervalSeconds: Math.max(1, number('gc interval', env.BERTH_GC_INTERVAL_SECONDS ?? file.gc?.intervalSeconds ?? 3600)),
    },
    // For tests only: lets a test watch archived content expire without waiting a day.
    softDelete: { daySeconds: Math.max(1, number('soft delete day length', env.BERTH_SOFT_DELETE_DAY_SECONDS ?? 86_400)) },
    // Hourly: policy durations are hours to days, so a tag goes at most an hour after it became
    // eligible, for one snapshot per matching repository per hour.
    lifecycle: { policyIntervalSeconds: Math.max(1, number('policy interval', env.BERTH_POLICY_INTERVAL_SECONDS ?? file.lifecycle?.policyIntervalSeconds ?? 3600)) },
    egress: {
      deny: egressList('egress.deny', env.BERTH_EGRESS_DENY ?? file.egress?.deny),
      allow: egressList('egress.allow', env.BERTH_EGRESS_ALLOW ?? file.egress?.allow),
    },
  };
}

function ratePreset(value: string | undefined): RateLimitPreset | null {
  if (value === undefined || value === 'none') return null;
  if (value in acrPresets) return value as RateLimitPreset;
  throw new SettingsError(`invalid rate limit preset "${value}": use ${Object.keys(acrPresets).join(', ')} or none`);
}

function publicUrl(value: string | undefined): URL | null {
  if (value === undefined) return null;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new SettingsError(`invalid public URL "${value}": expected http(s)://host[:port]`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new SettingsError(`invalid public URL "${value}": use http or https`);
  return url;
}

/** A comma list (environment) or a YAML list of CIDRs and host names, each checked. */
function egressList(what: string, value: string | string[] | undefined): string[] {
  const entries = (Array.isArray(value) ? value.map(String) : (value ?? '').split(',')).map((e) => e.trim()).filter((e) => e !== '');
  try {
    return validateEgressRules(entries);
  } catch (error) {
    throw new SettingsError(`${what}: ${(error as Error).message}`);
  }
}

function flag(what: string, value: string): boolean {
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  throw new SettingsError(`invalid ${what}: ${value} (use true or false)`);
}

function readKeyFile(path: string | undefined): string | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new SettingsError(`cannot read agent key file ${path}: ${(error as Error).message}`);
  }
}

/** Agents receive secrets with this key, so a guessable one is refused. */
function checkAgentKey(key: string | undefined): string | undefined {
  if (key !== undefined && key.length < 16) throw new SettingsError('the agent key must have at least 16 characters');
  return key;
}

function number(what: string, value: string | number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new SettingsError(`invalid ${what}: ${value}`);
  return n;
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
    logFormat: settings.logFormat,
    auth: settings.auth,
    rateLimit: {
      authenticated: settings.rateLimit.preset ?? (settings.rateLimit.authenticated.requestsPerSecond > 0 ? settings.rateLimit.authenticated : 'off'),
      anonymousPerAddress: settings.rateLimit.anonymous.requestsPerSecond > 0 ? settings.rateLimit.anonymous : 'off',
    },
    publicUrl: settings.publicUrl?.href ?? 'none (realm and service from the listen address)',
    http: settings.http,
    loginThrottle: settings.loginThrottle,
    tokenLifetimes: settings.tokenLifetimes,
    webhookRetry: settings.webhookRetry,
    secretKey: settings.secretKey ? 'from BERTH_SECRET_KEY' : (settings.secretKeyFile ?? '<data-dir>/secret.key'),
    runLogRetentionDays: settings.runLogRetentionDays,
    taskImageAliases: settings.taskImageAliases,
    egress: { defaultDeny: defaultEgressDeny.map((d) => d.range), deny: settings.egress.deny, allow: settings.egress.allow },
    triggers: settings.triggers,
    gc: settings.gc,
    lifecycle: settings.lifecycle,
    agents: { local: settings.localAgent ? 'on' : 'off', leaseSeconds: settings.runLeaseSeconds, remote: settings.agentKey ? 'on (agent key set)' : 'off (no BERTH_AGENT_KEY)' },
  };
}
