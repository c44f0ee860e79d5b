import { Cron } from 'croner';
import { RegistryError } from '../registry/errors.js';
import type { TaskRecord, TaskTimer, TaskTriggers } from './task-store.js';
import { normalizeImageReference } from '../triggers/image-reference.js';

const invalid = (message: string): RegistryError => new RegistryError('INVALID_REQUEST', message);

/** What `task create|update` may say about triggers (ACR's flag names, camel-cased). */
export interface TriggerInput {
  baseImageTriggerEnabled?: boolean;
  baseImageTriggerName?: string;
  baseImageTriggerType?: 'Runtime' | 'All';
  /** `REF=POLICY` pairs: opt in to the new-tag trigger for a base. */
  baseImageTagPolicies?: Record<string, string>;
  commitTriggerEnabled?: boolean;
  sourceTriggerName?: string;
  pullRequestTriggerEnabled?: boolean;
  commitTriggerPollInterval?: number | null;
  /** `[name:]CRON`, replacing the task's timers (`--schedule` on create/update). */
  schedules?: string[];
  watchImages?: string[];
}

/** A 5-field cron in UTC, as ACR's NCrontab accepts; croner would also take seconds and years. */
export function cronOf(schedule: string): Cron {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5) throw invalid(`invalid schedule "${schedule}": use 5 cron fields (minute hour day month weekday), in UTC`);
  try {
    return new Cron(fields.join(' '), { timezone: 'UTC', paused: true });
  } catch (error) {
    throw invalid(`invalid schedule "${schedule}": ${(error as Error).message}`);
  }
}

/** `[name:]CRON`: the name is what comes before a colon (cron has no colons). */
export function parseSchedule(text: string, index: number): TaskTimer {
  const colon = text.indexOf(':');
  const name = colon > 0 ? text.slice(0, colon).trim() : `t${index + 1}`;
  const schedule = (colon > 0 ? text.slice(colon + 1) : text).trim();
  checkTimerName(name);
  cronOf(schedule);
  return { name, schedule, enabled: true };
}

export function checkTimerName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$/.test(name)) throw invalid(`invalid timer name "${name}": letters, digits, "-" and "_"`);
}

/** A tag policy: `semver:RANGE` or `regex:PATTERN`. */
export function checkTagPolicy(policy: string): void {
  if (policy.startsWith('regex:')) {
    try {
      new RegExp(policy.slice(6));
    } catch (error) {
      throw invalid(`invalid tag policy "${policy}": ${(error as Error).message}`);
    }
  } else if (!policy.startsWith('semver:') || policy.length === 7) {
    throw invalid(`invalid tag policy "${policy}": use semver:RANGE (e.g. 'semver:>=15 <16') or regex:PATTERN`);
  }
}

/** The defaults ACR has: base-image and commit triggers on (the latter for git contexts), no timers. */
export function defaultTriggers(hasGitContext: boolean): TaskTriggers {
  return {
    baseImage: { enabled: true, name: 'defaultBaseimageTriggerName', type: 'Runtime', tagPolicies: {} },
    source: { enabled: hasGitContext, name: 'defaultSourceTriggerName', pullRequest: false, webhookSecret: null, pollIntervalSeconds: null },
    timers: [],
    watchImages: [],
  };
}

export function triggersOf(task: TaskRecord): TaskTriggers {
  return task.triggers ?? defaultTriggers(isGitContext(task.contextUrl));
}

export function isGitContext(url: string | null | undefined): boolean {
  return !!url && (/\.git(\/|#|$)/.test(url) || url.includes('#') || url.startsWith('git@'));
}

/** The task's triggers with `input` applied (an update keeps what it does not mention). */
export function applyTriggerInput(current: TaskTriggers, input: TriggerInput): TaskTriggers {
  const next: TaskTriggers = structuredClone(current);
  if (input.baseImageTriggerEnabled !== undefined) next.baseImage.enabled = input.baseImageTriggerEnabled;
  if (input.baseImageTriggerName !== undefined) next.baseImage.name = input.baseImageTriggerName;
  if (input.baseImageTriggerType !== undefined) {
    if (!['Runtime', 'All'].includes(input.baseImageTriggerType)) throw invalid('--base-image-trigger-type is Runtime or All');
    next.baseImage.type = input.baseImageTriggerType;
  }
  if (input.baseImageTagPolicies !== undefined) {
    for (const policy of Object.values(input.baseImageTagPolicies)) checkTagPolicy(policy);
    next.baseImage.tagPolicies = { ...next.baseImage.tagPolicies, ...input.baseImageTagPolicies };
  }
  if (input.commitTriggerEnabled !== undefined) next.source.enabled = input.commitTriggerEnabled;
  if (input.sourceTriggerName !== undefined) next.source.name = input.sourceTriggerName;
  if (input.pullRequestTriggerEnabled !== undefined) next.source.pullRequest = input.pullRequestTriggerEnabled;
  if (input.commitTriggerPollInterval !== undefined) {
    const seconds = input.commitTriggerPollInterval;
    if (seconds !== null && (!Number.isInteger(seconds) || seconds < 5 || seconds > 86_400)) throw invalid("--commit-trigger-poll-interval is 5 to 86400 seconds");
    next.source.pollIntervalSeconds = seconds;
  }
  if (input.schedules !== undefined) {
    next.timers = input.schedules.map(parseSchedule);
    const names = new Set(next.timers.map((t) => t.name));
    if (names.size !== next.timers.length) throw invalid('timer names must be distinct');
  }
  if (input.watchImages !== undefined) {
    for (const image of input.watchImages) checkWatchedImage(image);
    next.watchImages = [...new Set(input.watchImages)];
  }
  return next;
}

/** A watched image follows a tag: a digest-pinned reference never changes. */
function checkWatchedImage(reference: string): void {
  let parsed;
  try {
    parsed = normalizeImageReference(reference);
  } catch (error) {
    throw invalid(`--watch-image: ${(error as Error).message}`);
  }
  if (parsed.tag === '') throw invalid(`--watch-image "${reference}" pins a digest; watch a tag`);
}

/** ACR's TRIGGERS column: the kinds that are on, sorted. */
export function triggerKinds(task: TaskRecord): string[] {
  const triggers = triggersOf(task);
  const kinds: string[] = [];
  if (triggers.baseImage.enabled) kinds.push('BASE_IMAGE');
  if (triggers.source.enabled && isGitContext(task.contextUrl)) kinds.push('SOURCE');
  if (triggers.timers.some((t) => t.enabled)) kinds.push('TIMER');
  return kinds;
}
