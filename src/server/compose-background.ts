import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import type { Kysely } from 'kysely';
import { BackgroundWorker, type WorkHandler } from '../background/background-worker.js';
import { JournalConsumer } from '../background/journal-consumer.js';
import type { Settings } from '../config/settings.js';
import type { RegistryEvents } from '../events/registry-events.js';
import type { MetadataStore } from '../metadata/metadata-store.js';
import type { Database } from '../metadata/sql/schema.js';
import { SqlBaseImageStore } from '../metadata/sql/sql-base-image-store.js';
import { SqlSourceEventStore } from '../metadata/sql/sql-source-event-store.js';
import { SqlWorkQueue } from '../metadata/sql/sql-work-queue.js';
import type { EgressPolicy } from '../network/egress.js';
import type { RunStore } from '../tasks/run-store.js';
import { finalStatuses } from '../tasks/run-store.js';
import type { TaskService } from '../tasks/task-service.js';
import type { TaskStore } from '../tasks/task-store.js';
import { triggersOf } from '../tasks/task-triggers.js';
import { CommitTrigger } from '../triggers/commit-trigger.js';
import { ImageUpdateTrigger } from '../triggers/image-update-trigger.js';
import { TaskBaseTracking, type TaskBaseResolver } from '../triggers/task-base-tracking.js';
import { TimerTrigger } from '../triggers/timer-trigger.js';
import { TriggerRuns } from '../triggers/trigger-runs.js';
import { UpstreamPoller } from '../triggers/upstream-poller.js';

const journalPruneKind = 'journal-prune';
/** Delivered journal entries are kept this long (for inspection), then pruned. */
const journalKeepMs = 7 * 86_400_000;

export interface BackgroundComponents {
  worker: BackgroundWorker;
  queue: SqlWorkQueue;
  bases: SqlBaseImageStore;
  sourceEvents: SqlSourceEventStore;
  commits: CommitTrigger;
  /** A recurring item (keyed by its kind) has work now: due at once, and this worker looks. */
  wake(kind: string): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Wires background work: the one worker and its handlers (triggers, polls, timers, housekeeping),
 * and the journal consumers (webhooks and audit; the base-image trigger), all on the work queue.
 */
export async function composeBackground(options: {
  settings: Settings;
  db: Kysely<Database>;
  metadata: MetadataStore;
  events: RegistryEvents;
  tasks: TaskService;
  taskStore: TaskStore;
  runStore: RunStore;
  egress: EgressPolicy;
  log: FastifyBaseLogger;
  /** The names this registry goes by in image references. */
  localRegistries: () => string[];
  resolveTaskBases: TaskBaseResolver;
  handlers: WorkHandler[];
}): Promise<BackgroundComponents> {
  const { db, metadata, events, tasks, taskStore, runStore, log } = options;
  // Unique per process: a restarted server must not mistake its predecessor's leases for its own.
  const owner = `${hostname().split('.')[0]}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const queue = new SqlWorkQueue(db);
  const worker = new BackgroundWorker(queue, owner, log);
  const bases = new SqlBaseImageStore(db);
  const sourceEvents = new SqlSourceEventStore(db);
  const triggerRuns = new TriggerRuns(tasks, runStore, log);
  const imageUpdates = new ImageUpdateTrigger(bases, taskStore, runStore, triggerRuns, options.localRegistries, log);
  const isLocal = (registry: string) => options.localRegistries().includes(registry);
  const credentialsFor = async (names: string[], registry: string) => {
    for (const name of names) {
      const login = (await tasks.logins(name)).find((l) => l.server === registry);
      if (login) return { username: login.username, password: login.password };
    }
    return null;
  };
  const poller = new UpstreamPoller(queue, bases, imageUpdates, credentialsFor, options.egress, options.settings.triggers.basePollSeconds, isLocal);
  const timers = new TimerTrigger(queue, taskStore, triggerRuns);
  const commits = new CommitTrigger(queue, taskStore, sourceEvents, triggerRuns, (name) => tasks.gitAccessToken(name));
  const tracking = new TaskBaseTracking(queue, taskStore, bases, options.resolveTaskBases, poller);
  const consumers = [
    new JournalConsumer('registry-events', metadata, queue, owner, (entry) => events.deliver(entry.name, entry.payload), log),
    new JournalConsumer('image-update-trigger', metadata, queue, owner, (entry) => imageUpdates.handleJournalEntry(entry), log, 'end'),
  ];
  const journalPrune: WorkHandler = {
    kind: journalPruneKind,
    leaseSeconds: 300,
    async handle() {
      // Only what every consumer has handled may go.
      const cursors = await Promise.all(consumers.map(async (c) => (await metadata.journalCursor(c.name)) ?? 0));
      const pruned = await metadata.pruneJournal(Math.min(...cursors), new Date(Date.now() - journalKeepMs).toISOString());
      if (pruned > 0) log.info({ pruned }, 'pruned handled registry events');
      return { runAt: new Date(Date.now() + 3600_000) };
    },
  };
  for (const handler of [poller, timers, commits, tracking, journalPrune, ...options.handlers]) worker.register(handler);

  events.onCommitted(() => {
    for (const consumer of consumers) consumer.poke();
  });
  events.on('run.changed', async (change) => {
    if (!change.task || !finalStatuses.has(change.status as never)) return;
    const run = await runStore.getRun(change.runId);
    if (run) await tracking.runEnded(run).catch((error: unknown) => log.error({ err: error, run: run.id }, 'recording the bases a run used failed'));
  });
  tasks.onChange(async (name, task) => {
    await tracking.taskChanged(name, task);
    await timers.sync(name, task ? triggersOf(task).timers : []);
    await commits.sync(task, name);
    if (!task) await sourceEvents.deleteTask(name);
    worker.poke();
  });

  return {
    worker,
    queue,
    bases,
    sourceEvents,
    commits,
    async wake(kind) {
      await queue.ensureRecurring({ kind, key: kind });
      worker.poke();
    },
    async start() {
      for (const handler of [journalPrune, ...options.handlers]) await queue.ensureRecurring({ kind: handler.kind, key: handler.kind });
      for (const consumer of consumers) await consumer.start();
      worker.start();
    },
    async stop() {
      await worker.stop();
      for (const consumer of consumers) await consumer.stop();
    },
  };
}
