import { parse as parseYaml } from 'yaml';
import { RegistryError } from '../registry/errors.js';
import { GoTemplate } from './go-template.js';
import { secretNameOf } from '../secrets/secret-store.js';

/** Secrets for a first render that only learns which secrets a file needs. */
export const placeholderSecrets = new Proxy({}, { get: (_target, key) => (typeof key === 'string' ? `secret-${key}` : undefined) }) as Record<string, string>;

export interface TaskStep {
  id: string;
  type: 'build' | 'cmd' | 'push';
  build: string;
  cmd: string;
  push: string[];
  /** Ids this step waits for; [] = starts at once. */
  dependsOn: string[];
  detach: boolean;
  startDelay: number;
  timeout: number;
  retries: number;
  retryDelay: number;
  repeat: number;
  ignoreErrors: boolean;
  keep: boolean;
  entryPoint: string | null;
  user: string | null;
  env: string[];
  workingDirectory: string | null;
  disableWorkingDirectoryOverride: boolean;
  network: string | null;
  privileged: boolean;
  ports: string[];
  expose: string[];
  pull: boolean;
  /** Retry only when the failed attempt's output contains one of these (ACR's undocumented key). */
  retryOnErrors: string[];
  /** `--cpus` for a cmd step's container. */
  cpus: number | null;
  exitedWith: number[] | null;
  exitedWithout: number[] | null;
  volumeMounts: Array<{ name: string; mountPath: string }>;
}

export interface TaskDefinition {
  version: string;
  stepTimeout: number;
  workingDirectory: string | null;
  env: string[];
  steps: TaskStep[];
  /** `secrets:` entries: id → Berth secret name (a Key Vault URL names the secret in its last path part). */
  secretRefs: Array<{ id: string; secret: string }>;
  /** Secret volumes: files (decoded from base64) that steps mount with volumeMounts. */
  volumes: Array<{ name: string; files: Record<string, string> }>;
  /** Extra networks; the last `isDefault` one replaces the run's network as every step's default. */
  networks: Array<{ name: string; driver: string; skipCreation: boolean; isDefault: boolean }>;
  /** Keys ACR would silently ignore; Berth says so. */
  warnings: string[];
}

export interface TemplateData {
  Run: Record<string, string>;
  Values: Record<string, unknown>;
  Secrets: Record<string, string>;
}

const taskKeys = new Set(['version', 'stepTimeout', 'workingDirectory', 'env', 'secrets', 'networks', 'volumes', 'alias', 'steps']);
const stepKeys = new Set([
  'id', 'when', 'build', 'cmd', 'push', 'detach', 'startDelay', 'timeout', 'retries', 'retryDelay', 'retryOnErrors', 'repeat', 'ignoreErrors',
  'keep', 'entryPoint', 'user', 'isolation', 'env', 'workingDirectory', 'disableWorkingDirectoryOverride', 'network', 'privileged', 'ports',
  'expose', 'pull', 'cache', 'cpus', 'volumeMounts', 'exitedWith', 'exitedWithout', 'secret',
]);
/** v1.1.0 `$` aliases (no `$TaskName`, as in ACR). */
const runAliases = ['ID', 'SharedVolume', 'Registry', 'RegistryName', 'Date', 'OS', 'Architecture', 'Commit', 'Branch', 'TriggerImage', 'TriggerTag'];

function invalid(message: string): RegistryError {
  return new RegistryError('INVALID_REQUEST', `task file: ${message}`);
}

/** ACR compares versions as strings; an unset version means v1.0.0 (aliases off). */
function versionOf(source: string): string {
  const match = /^version:\s*["']?([^"'\s#]+)/m.exec(source);
  const version = (match?.[1] ?? 'v1.0.0').toLowerCase();
  if (!['1.0-preview-1', 'v1.0.0', 'v1.1.0'].includes(version)) throw invalid(`unsupported version "${match?.[1]}" (use v1.0.0 or v1.1.0)`);
  return version;
}

/**
 * v1.1.0 aliases: the top-level `alias:` block (values, directive) is taken out of the text, then
 * `<directive>name` is replaced by the task's own values first, the Run built-ins next; unknown
 * names stay verbatim and a doubled directive escapes it, as in ACR.
 */
function expandAliases(source: string, aliasFiles: Record<string, string> | undefined): { text: string; values: Record<string, string> } {
  const { block, start, end } = aliasBlock(source);
  const lines = source.split('\n');
  const values: Record<string, string> = {};
  let directive = '$';
  let text = source;
  if (block) {
    const alias = block;
    // Precedence as in ACR: inline values > later src files > earlier src files > built-ins.
    const layers = [...sourcesOf(alias).map((src) => aliasFile(src, aliasFiles)), alias.values ?? {}];
    for (const layer of layers) {
      for (const [name, value] of Object.entries(layer)) {
        if (!/^[A-Za-z0-9]+$/.test(name)) throw invalid(`alias name "${name}" must be letters and digits`);
        values[name] = String(value);
      }
    }
    if (alias.directive !== undefined) {
      if (typeof alias.directive !== 'string' || alias.directive.length !== 1 || /[A-Za-z0-9]/.test(alias.directive)) throw invalid('alias directive must be one non-alphanumeric character');
      directive = alias.directive;
    }
    text = [...lines.slice(0, start), ...lines.slice(end)].join('\n');
  }
  const d = directive.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const expanded = text.replace(new RegExp(`${d}${d}|${d}([A-Za-z0-9]+)`, 'g'), (whole, name: string | undefined) => {
    if (name === undefined) return directive;
    if (name in values) return values[name]!;
    return runAliases.includes(name) ? `{{.Run.${name}}}` : whole;
  });
  return { text: expanded, values };
}

interface AliasBlock {
  values?: Record<string, unknown>;
  directive?: string;
  src?: unknown;
}

/** The top-level `alias:` block of a v1.1.0 file, taken out before anything else is parsed. */
function aliasBlock(source: string): { block: AliasBlock | null; start: number; end: number } {
  const lines = source.split('\n');
  const start = lines.findIndex((l) => /^alias:\s*$/.test(l));
  if (start < 0) return { block: null, start, end: start };
  let end = start + 1;
  while (end < lines.length && (/^\s/.test(lines[end]!) || lines[end]!.trim() === '')) end++;
  const parsed = parseYaml(lines.slice(start, end).join('\n')) as { alias?: AliasBlock } | null;
  return { block: parsed?.alias ?? {}, start, end };
}

function sourcesOf(alias: AliasBlock): string[] {
  if (alias.src === undefined || alias.src === null) return [];
  if (!Array.isArray(alias.src) || alias.src.some((s) => typeof s !== 'string' || !s)) throw invalid('alias src must be a list of files or URLs');
  return alias.src as string[];
}

/** One src file: a flat YAML map of alias names to values (ACR's format). */
function aliasFile(src: string, aliasFiles: Record<string, string> | undefined): Record<string, unknown> {
  // Checked before a run is queued, src files are not at hand yet: their aliases stay as written.
  if (aliasFiles === undefined) return {};
  const content = aliasFiles[src];
  if (content === undefined) throw invalid(`alias src "${src}" was not loaded`);
  let parsed: unknown;
  try {
    parsed = parseYaml(content);
  } catch (error) {
    throw invalid(`alias src "${src}": invalid YAML: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw invalid(`alias src "${src}" must be a YAML map of alias names to values`);
  return parsed as Record<string, unknown>;
}

/** The alias `src` files or URLs a task file names (the agent loads them before parsing it). */
export function aliasSources(source: string): string[] {
  if (versionOf(source) < 'v1.1.0') return [];
  const { block } = aliasBlock(source);
  return block ? sourcesOf(block) : [];
}

function int(value: unknown, key: string, fallback: number, min = 0): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) throw invalid(`${key} must be a whole number ≥ ${min}`);
  return value;
}

function bool(value: unknown, key: string): boolean {
  if (value === undefined || value === null) return false;
  if (typeof value !== 'boolean') throw invalid(`${key} must be true or false`);
  return value;
}

function text(value: unknown, key: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' && typeof value !== 'number') throw invalid(`${key} must be a string`);
  return String(value);
}

function list(value: unknown, key: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`${key} must be a list`);
  return value.map((v) => String(v));
}

function mounts(value: unknown, where: string): Array<{ name: string; mountPath: string }> {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(`${where}: volumeMounts must be a list`);
  const result = value.map((m: unknown) => {
    const entry = m as Record<string, unknown> | null;
    if (typeof entry?.name !== 'string' || typeof entry.mountPath !== 'string' || !entry.mountPath.startsWith('/')) {
      throw invalid(`${where}: each volumeMounts entry needs a name and an absolute mountPath`);
    }
    return { name: entry.name, mountPath: entry.mountPath };
  });
  if (new Set(result.map((m) => m.mountPath)).size !== result.length) throw invalid(`${where}: mountPath values must be unique`);
  return result;
}

function codes(value: unknown, key: string): number[] | null {
  if (value === undefined || value === null) return null;
  if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v))) throw invalid(`${key} must be a list of exit codes`);
  return value as number[];
}

/**
 * ACR's pipeline: aliases (v1.1.0+), then the Go template with Run/Values/Secrets, then YAML,
 * then validation and the `when` graph. Errors carry the place they were found.
 */
export function parseTaskFile(source: string, data: TemplateData, aliasFiles?: Record<string, string>): TaskDefinition {
  const version = versionOf(source);
  const warnings: string[] = [];
  const { text: aliased, values: aliasValues } = version >= 'v1.1.0' ? expandAliases(source, aliasFiles) : { text: source, values: {} };
  const rendered = new GoTemplate(aliased).render(data as unknown as Record<string, unknown>);
  let document: unknown;
  try {
    document = parseYaml(rendered);
  } catch (error) {
    throw invalid(`invalid YAML: ${(error as Error).message}`);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw invalid('must be a YAML mapping with steps');
  const task = document as Record<string, unknown>;
  for (const key of Object.keys(task)) if (!taskKeys.has(key)) warnings.push(`unknown key "${key}" ignored`);
  const volumes = (Array.isArray(task.volumes) ? task.volumes : task.volumes === undefined ? [] : [null]).map((entry: unknown) => {
    const v = entry as Record<string, unknown> | null;
    if (typeof v?.name !== 'string' || !/^[a-zA-Z0-9-_]+$/.test(v.name)) throw invalid('each volumes entry needs a name of letters, digits, "-" or "_"');
    if (typeof v.secret !== 'object' || v.secret === null || Array.isArray(v.secret)) throw invalid(`volume "${v.name}" needs a secret: map of file names to base64 values`);
    const files: Record<string, string> = {};
    for (const [file, value] of Object.entries(v.secret as Record<string, unknown>)) {
      if (!/^[a-zA-Z0-9-_.]+$/.test(file)) throw invalid(`volume "${v.name}": invalid file name "${file}"`);
      files[file] = Buffer.from(String(value), 'base64').toString('utf8');
    }
    return { name: v.name, files };
  });
  const networks = (Array.isArray(task.networks) ? task.networks : task.networks === undefined ? [] : [null]).map((entry: unknown) => {
    const n = entry as Record<string, unknown> | null;
    if (typeof n?.name !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(n.name)) throw invalid('each networks entry needs a name');
    return { name: n.name, driver: text(n.driver, 'network driver') ?? 'bridge', skipCreation: bool(n.skipCreation, 'skipCreation'), isDefault: bool(n.isDefault, 'isDefault') };
  });
  const secretRefs = (Array.isArray(task.secrets) ? task.secrets : task.secrets === undefined ? [] : [null]).map((entry: unknown) => {
    const e = entry as Record<string, unknown> | null;
    const id = typeof e?.id === 'string' ? e.id : null;
    const reference = typeof e?.keyvault === 'string' ? e.keyvault : typeof e?.secret === 'string' ? e.secret : null;
    if (!id || /\s/.test(id) || !reference) throw invalid('each secrets entry needs an id and a secret (a Berth secret name, or a Key Vault secret URL)');
    return { id, secret: secretNameOf(reference) };
  });
  if (!Array.isArray(task.steps) || task.steps.length === 0) throw invalid('steps is required and must list at least one step');
  const stepTimeout = int(task.stepTimeout, 'stepTimeout', 600, 1);
  const env = list(task.env, 'env').flatMap((e) => e.split(','));
  const seen = new Set<string>();
  const steps: TaskStep[] = task.steps.map((raw: unknown, index: number) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalid(`step ${index + 1} must be a mapping`);
    const s = raw as Record<string, unknown>;
    const id = text(s.id, 'id') ?? `acb_step_${index}`;
    const where = `step "${id}"`;
    for (const key of Object.keys(s)) if (!stepKeys.has(key)) warnings.push(`${where}: unknown key "${key}" ignored`);
    if (s.cache !== undefined) {
      if (s.cache !== 'enabled' && s.cache !== 'disabled') throw invalid(`${where}: cache must be enabled or disabled`);
      // ACR's registry cache needs BuildKit; builds here use the engine's classic builder.
      if (s.cache === 'enabled') warnings.push(`${where}: cache: enabled is not supported (classic builder) and was ignored`);
    }
    if (s.isolation !== undefined && s.isolation !== 'default') warnings.push(`${where}: isolation applies to Windows only and was ignored`);
    if (/\s/.test(id)) throw invalid(`${where}: ids cannot contain spaces`);
    if (id === 'acb_root') throw invalid('"acb_root" is a reserved id');
    if (seen.has(id)) throw invalid(`duplicate step id "${id}"`);
    seen.add(id);
    const types = (['build', 'cmd', 'push'] as const).filter((t) => s[t] !== undefined);
    if (types.length !== 1) throw invalid(`${where}: give exactly one of build, cmd or push`);
    const type = types[0]!;
    const when = s.when === undefined ? null : list(s.when, `${where} when`);
    if (when && when.includes('-') && when.length > 1) throw invalid(`${where}: "-" cannot be mixed with step ids in when`);
    if (when && when.includes(id)) throw invalid(`${where}: a step cannot wait for itself`);
    if (type === 'push' && s.volumeMounts !== undefined) throw invalid(`${where}: push steps cannot mount volumes`);
    const push = type === 'push' ? list(s.push, `${where} push`).map((ref) => (ref.includes(':') || ref.includes('@') ? ref : `${ref}:latest`)) : [];
    return {
      id,
      type,
      build: type === 'build' ? String(s.build).trim() : '',
      cmd: type === 'cmd' ? imageAlias(String(s.cmd).trim(), aliasValues) : '',
      push: [...new Set(push)],
      dependsOn: when === null ? [] : when.includes('-') ? [] : when,
      whenGiven: when !== null,
      detach: bool(s.detach, `${where} detach`),
      startDelay: int(s.startDelay, `${where} startDelay`, 0),
      timeout: int(s.timeout, `${where} timeout`, 0) || stepTimeout,
      retries: int(s.retries, `${where} retries`, 0),
      retryDelay: int(s.retryDelay, `${where} retryDelay`, 5),
      repeat: int(s.repeat, `${where} repeat`, 0),
      ignoreErrors: bool(s.ignoreErrors, `${where} ignoreErrors`),
      keep: bool(s.keep, `${where} keep`),
      entryPoint: text(s.entryPoint, `${where} entryPoint`),
      user: text(s.user, `${where} user`),
      env: list(s.env, `${where} env`),
      workingDirectory: text(s.workingDirectory, `${where} workingDirectory`),
      disableWorkingDirectoryOverride: bool(s.disableWorkingDirectoryOverride, `${where} disableWorkingDirectoryOverride`),
      network: text(s.network, `${where} network`),
      privileged: bool(s.privileged, `${where} privileged`),
      ports: list(s.ports, `${where} ports`),
      expose: list(s.expose, `${where} expose`),
      pull: bool(s.pull, `${where} pull`),
      retryOnErrors: list(s.retryOnErrors, `${where} retryOnErrors`),
      cpus: cpus(s.cpus, `${where} cpus`),
      exitedWith: codes(s.exitedWith, `${where} exitedWith`),
      exitedWithout: codes(s.exitedWithout, `${where} exitedWithout`),
      volumeMounts: mounts(s.volumeMounts, where),
    } as TaskStep & { whenGiven: boolean };
  });
  // No `when`: after the previous step in file order (the first step starts at once).
  steps.forEach((step, i) => {
    const given = (step as TaskStep & { whenGiven?: boolean }).whenGiven;
    delete (step as TaskStep & { whenGiven?: boolean }).whenGiven;
    if (!given && i > 0) step.dependsOn = [steps[i - 1]!.id];
    for (const dep of step.dependsOn) if (!seen.has(dep)) throw invalid(`step "${step.id}" waits for unknown step "${dep}"`);
  });
  assertAcyclic(steps);
  for (const step of steps) {
    if (step.network && !networks.some((n) => n.name === step.network)) throw invalid(`step "${step.id}" uses network "${step.network}", which networks does not declare`);
    for (const mount of step.volumeMounts) {
      if (!volumes.some((v) => v.name === mount.name)) throw invalid(`step "${step.id}" mounts volume "${mount.name}", which volumes does not declare`);
    }
  }
  return { version, stepTimeout, workingDirectory: text(task.workingDirectory, 'workingDirectory'), env, steps, secretRefs, networks, volumes, warnings };
}

/** As in ACR, a task's own aliases also name images: the first word of a cmd, without the directive. */
function imageAlias(cmd: string, aliases: Record<string, string>): string {
  const first = cmd.split(/\s/, 1)[0]!;
  return first in aliases ? aliases[first]! + cmd.slice(first.length) : cmd;
}

function cpus(value: unknown, key: string): number | null {
  if (value === undefined || value === null) return null;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw invalid(`${key} must be a positive number of CPUs`);
  return n;
}

function assertAcyclic(steps: TaskStep[]): void {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string, path: string[]): void => {
    if (state.get(id) === 'done') return;
    if (state.get(id) === 'visiting') throw invalid(`steps wait for each other in a cycle: ${[...path, id].join(' -> ')}`);
    state.set(id, 'visiting');
    for (const dep of byId.get(id)!.dependsOn) visit(dep, [...path, id]);
    state.set(id, 'done');
  };
  for (const step of steps) visit(step.id, []);
}
