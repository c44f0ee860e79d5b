import type { FastifyInstance } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import type { TaskService } from '../tasks/task-service.js';
import { triggersOf } from '../tasks/task-triggers.js';
import type { BaseImageStore } from '../triggers/base-image-store.js';
import type { CommitTrigger } from '../triggers/commit-trigger.js';
import type { SourceEventStore, SourceEventVerdict } from '../triggers/source-event-store.js';
import { decideTrigger, verifySourceWebhook, type TriggerDecision } from '../triggers/source-webhooks.js';

const nameParams = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] } as const;
const timerParams = { type: 'object', properties: { name: { type: 'string' }, timer: { type: 'string' } }, required: ['name', 'timer'] } as const;
const timerBody = {
  type: 'object',
  properties: { name: { type: 'string' }, schedule: { type: 'string' }, enabled: { type: 'boolean' } },
  additionalProperties: false,
} as const;
/** GitHub's limit for a push payload is 25 MiB; pushes of thousands of commits come near it. */
const webhookBodyLimit = 25 * 1024 * 1024;

const notFiring: Record<Exclude<TriggerDecision, 'fire' | 'fire-pull-request'>, SourceEventVerdict> = {
  'other-branch': 'other-branch',
  'branch-deleted': 'branch-deleted',
  'tag-push': 'tag-push',
  ping: 'ping',
  'not-a-push': 'not-a-push',
};

export interface TriggerRouteOptions {
  tasks: TaskService;
  bases: BaseImageStore;
  sourceEvents: SourceEventStore;
  commits: CommitTrigger;
}

/** Timers, base images, source events and the push-webhook receiver of tasks (ACR: `task timer`, triggers). */
export function triggerRoutes(app: FastifyInstance, options: TriggerRouteOptions): void {
  const { tasks, bases, sourceEvents, commits } = options;
  const tags = ['tasks'];
  app.get<{ Params: { name: string } }>('/api/v1/tasks/:name/base-images', { schema: { tags, summary: 'What the task is built FROM or watches, with the digests its last build used', params: nameParams } }, async (request) => {
    await tasks.show(request.params.name);
    return bases.taskBases(request.params.name);
  });

  app.get<{ Params: { name: string } }>('/api/v1/tasks/:name/timers', { schema: { tags, params: nameParams } }, async (request) => timersOf(await tasks.show(request.params.name)));
  app.post<{ Params: { name: string }; Body: { name: string; schedule: string; enabled?: boolean } }>(
    '/api/v1/tasks/:name/timers',
    { schema: { tags, summary: 'Add a timer (5-field cron, UTC)', params: nameParams, body: { ...timerBody, required: ['name', 'schedule'] } } },
    async (request, reply) => reply.code(201).send(timersOf(await tasks.setTimer(request.params.name, request.body, 'add'))),
  );
  app.patch<{ Params: { name: string; timer: string }; Body: { schedule?: string; enabled?: boolean } }>(
    '/api/v1/tasks/:name/timers/:timer',
    { schema: { tags, params: timerParams, body: timerBody } },
    async (request) => timersOf(await tasks.setTimer(request.params.name, { ...request.body, name: request.params.timer }, 'update')),
  );
  app.delete<{ Params: { name: string; timer: string } }>('/api/v1/tasks/:name/timers/:timer', { schema: { tags, params: timerParams } }, async (request) =>
    timersOf(await tasks.removeTimer(request.params.name, request.params.timer)),
  );

  app.get<{ Params: { name: string }; Querystring: { top?: number } }>(
    '/api/v1/tasks/:name/source-events',
    { schema: { tags, summary: 'Push webhooks and polls received, with what each did', params: nameParams, querystring: { type: 'object', properties: { top: { type: 'integer', minimum: 1, maximum: 500 } } } } },
    async (request) => {
      await tasks.show(request.params.name);
      return sourceEvents.list(request.params.name, request.query.top ?? 50);
    },
  );

  // Its own scope: the body is kept raw, since the signature is over the exact bytes sent.
  void app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: webhookBodyLimit }, (_request, body, done) => done(null, body));
    scope.post<{ Params: { name: string }; Body: Buffer }>(
      '/api/v1/tasks/:name/source-webhook',
      {
        config: { access: 'signed' },
        schema: { tags, summary: "Push webhooks of GitHub, Gitea, Forgejo, GitLab or the generic form, verified with the task's secret", params: nameParams },
      },
      async (request, reply) => {
        // Unknown tasks are refused like bad signatures: an anonymous caller learns no task names.
        const task = await tasks.show(request.params.name).catch(() => null);
        const secret = task ? await tasks.webhookSecret(task.name) : null;
        const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        if (!task || !secret) throw new RegistryError('UNAUTHORIZED', 'webhook refused: no such task with a git context, or its secret does not verify this delivery');
        const verdict = verifySourceWebhook(request.headers, body, secret);
        if (!verdict.ok) {
          await commits.record(task.name, { provider: verdict.provider ?? 'unknown' }, verdict.reason === 'bad-payload' ? 'bad-payload' : 'bad-signature', null, verdict.detail);
          request.log.warn({ task: task.name, reason: verdict.reason, provider: verdict.provider }, 'push webhook refused');
          throw new RegistryError(verdict.reason === 'bad-payload' ? 'INVALID_REQUEST' : 'UNAUTHORIZED', `webhook refused: ${verdict.detail}`);
        }
        const event = verdict.event;
        const push = {
          provider: event.provider,
          deliveryId: event.deliveryId,
          repositoryUrl: event.repositoryUrls[0] ?? null,
          ref: event.ref ?? '',
          branch: event.branch,
          commit: event.commit ?? '',
          deleted: event.deleted,
        };
        const decision = decideTrigger(event, { contextUrl: task.contextUrl ?? '', pullRequests: triggersOf(task).source.pullRequest });
        if (decision === 'fire') return reply.send(await commits.push(task, push));
        // Pull-request runs need their own sandbox (no secrets, no push); until then they are recorded only.
        const recorded: SourceEventVerdict = decision === 'fire-pull-request' ? 'not-a-push' : notFiring[decision];
        await commits.record(task.name, push, recorded, null, decision === 'fire-pull-request' ? 'pull-request runs are not supported yet' : null);
        return reply.send({ verdict: recorded, runId: null });
      },
    );
  });
}

function timersOf(task: Awaited<ReturnType<TaskService['show']>>) {
  return triggersOf(task).timers.map((t) => ({ name: t.name, schedule: t.schedule, status: t.enabled ? 'Enabled' : 'Disabled' }));
}
