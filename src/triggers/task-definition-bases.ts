import type { EgressPolicy } from '../network/egress.js';
import type { ContextStore } from '../tasks/context-store.js';
import { archiveFileReader } from '../tasks/sources/context-archive.js';
import { fetchSource, parseSourceLocation } from '../tasks/sources/remote-source.js';
import type { TaskBaseResolver } from './task-base-tracking.js';
import { basesOfTask } from './task-bases.js';

/** Reading a task's git source at creation may take a clone; it gives up after this long. */
const fetchTimeoutMs = 5 * 60_000;

/**
 * What a task's definition says it is built FROM, read from its source as a run would see it:
 * the uploaded context archive, or the git repository / tarball fetched once (ACR needs a first
 * run for this; Berth knows the bases from the moment the task exists).
 */
export function taskDefinitionBases(options: {
  contexts: ContextStore;
  egress: EgressPolicy;
  /** This registry's host as runs name it ({{.Run.Registry}}). */
  registryHost: () => string;
  gitToken: (task: string) => Promise<string | null>;
  log: (message: string, details: Record<string, unknown>) => void;
}): TaskBaseResolver {
  return async (task) => {
    let readFile: (path: string) => Promise<string | null> = async () => null;
    let dispose = async () => undefined;
    if (task.contextId) {
      const id = task.contextId;
      readFile = archiveFileReader(() => options.contexts.open(id));
    } else if (task.contextUrl) {
      const fetched = await fetchSource(parseSourceLocation(task.contextUrl), await options.gitToken(task.name), AbortSignal.timeout(fetchTimeoutMs), () => undefined, options.egress);
      readFile = (path) => fetched.readFile(path).catch(() => null);
      dispose = async () => void (await fetched.dispose());
    }
    try {
      const bases = await basesOfTask(task, { registryHost: options.registryHost(), readFile });
      if (bases.problems.length > 0) options.log('some of the task\'s bases could not be read', { task: task.name, problems: bases.problems });
      // A base pinned by digest follows no tag: nothing can update it.
      return [
        ...bases.runtime.filter((b) => b.tag !== '').map((b) => ({ registry: b.registry, repository: b.repository, tag: b.tag, dependency: 'runtime' as const })),
        ...bases.buildtime.filter((b) => b.tag !== '').map((b) => ({ registry: b.registry, repository: b.repository, tag: b.tag, dependency: 'buildtime' as const })),
      ];
    } finally {
      await dispose();
    }
  };
}
