import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditContext } from '../audit/audit-log.js';
import type { TaskInput, TaskService } from '../tasks/task-service.js';
import type { TaskRecord } from '../tasks/task-store.js';
import { triggerKinds, type TriggerInput } from '../tasks/task-triggers.js';
import type { BaseImageStore } from '../triggers/base-image-store.js';

const nameParams = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] } as const;
const taskBody = {
  type: 'object',
  properties: {
    taskFile: { type: ['string', 'null'], maxLength: 1048576 },
    taskFilePath: { type: ['string', 'null'], maxLength: 1024 },
    command: { type: ['string', 'null'] },
    dockerfile: { type: ['string', 'null'] },
    images: { type: 'array', items: { type: 'string' } },
    buildArgs: { type: 'object', additionalProperties: { type: 'string' } },
    contextId: { type: ['string', 'null'] },
    contextUrl: { type: ['string', 'null'], maxLength: 2048 },
    gitAccessToken: { type: ['string', 'null'], description: 'plain (stored sealed), secret:NAME, or a Key Vault secret URL' },
    values: { type: 'object' },
    secretValues: { type: 'object', additionalProperties: { type: 'string' }, description: '--set-secret values kept sealed with the task' },
    platform: { type: 'string', description: 'os/architecture[/variant]; default linux/amd64' },
    timeout: { type: 'integer' },
    status: { type: 'string', enum: ['Enabled', 'Disabled'] },
    baseImageTriggerEnabled: { type: 'boolean' },
    baseImageTriggerName: { type: 'string' },
    baseImageTriggerType: { type: 'string', enum: ['Runtime', 'All'] },
    baseImageTagPolicies: { type: 'object', additionalProperties: { type: 'string' }, description: "base reference → 'semver:RANGE' or 'regex:PATTERN' (the new-tag trigger)" },
    commitTriggerEnabled: { type: 'boolean' },
    sourceTriggerName: { type: 'string' },
    pullRequestTriggerEnabled: { type: 'boolean' },
    commitTriggerPollInterval: { type: ['integer', 'null'], description: 'poll the branch head this often (seconds), for git servers that cannot call in' },
    schedules: { type: 'array', items: { type: 'string' }, description: "'[name:]CRON' timers (5 fields, UTC); replaces the task's timers" },
    watchImages: { type: 'array', items: { type: 'string' }, description: 'images that fire the task when their digest changes (tasks that build nothing)' },
  },
  additionalProperties: false,
} as const;

const triggerFields = [
  'baseImageTriggerEnabled',
  'baseImageTriggerName',
  'baseImageTriggerType',
  'baseImageTagPolicies',
  'commitTriggerEnabled',
  'sourceTriggerName',
  'pullRequestTriggerEnabled',
  'commitTriggerPollInterval',
  'schedules',
  'watchImages',
] as const satisfies ReadonlyArray<keyof TriggerInput>;

type TaskBody = Omit<TaskInput, 'timeoutSeconds' | 'triggers'> & TriggerInput & { timeout?: number };

function toInput({ timeout, ...body }: TaskBody): TaskInput {
  const triggers: TriggerInput = {};
  const rest: Record<string, unknown> = { ...body };
  for (const field of triggerFields) {
    if (body[field] !== undefined) Object.assign(triggers, { [field]: body[field] });
    delete rest[field];
  }
  return { ...(rest as TaskInput), ...(Object.keys(triggers).length ? { triggers } : {}), ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}) };
}

const credentialParams = { type: 'object', properties: { name: { type: 'string' }, server: { type: 'string' } }, required: ['name', 'server'] } as const;
const credentialBody = {
  type: 'object',
  properties: { loginServer: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' } },
  required: ['loginServer', 'username', 'password'],
  additionalProperties: false,
} as const;

/** /api/v1/tasks: ACR's `az acr task create|update|show|list|delete|run` and `task credential`. */
export function taskRoutes(app: FastifyInstance, tasks: TaskService, ctx: (request: FastifyRequest) => AuditContext, bases: BaseImageStore): void {
  const tags = ['tasks'];
  /** A task as shown: secrets described, its trigger kinds (ACR's TRIGGERS), and its push-webhook path. */
  const shown = (task: TaskRecord) => ({ ...tasks.view(task), triggerKinds: triggerKinds(task), sourceWebhookPath: `/api/v1/tasks/${task.name}/source-webhook` });
  app.get('/api/v1/tasks', { schema: { tags } }, async () => (await tasks.list()).map(shown));
  app.post<{ Body: TaskBody & { name: string } }>(
    '/api/v1/tasks',
    { schema: { tags, body: { ...taskBody, properties: { ...taskBody.properties, name: { type: 'string' } }, required: ['name'] } } },
    async (request, reply) => {
      const { name, ...rest } = request.body;
      const created = await tasks.create(name, toInput(rest));
      // The webhook secret is in clear here only, once (as a token's password).
      return reply.code(201).send({ ...shown(created), ...('webhookSecretOnce' in created ? { webhookSecret: created.webhookSecretOnce } : {}) });
    },
  );
  app.get<{ Params: { name: string } }>('/api/v1/tasks/:name', { schema: { tags, params: nameParams } }, async (request) => {
    const task = await tasks.show(request.params.name);
    return { ...shown(task), baseImages: await bases.taskBases(task.name) };
  });
  app.patch<{ Params: { name: string }; Body: TaskBody }>('/api/v1/tasks/:name', { schema: { tags, params: nameParams, body: taskBody } }, async (request) =>
    shown(await tasks.update(request.params.name, toInput(request.body))),
  );
  app.delete<{ Params: { name: string } }>('/api/v1/tasks/:name', { schema: { tags, params: nameParams } }, async (request, reply) => {
    await tasks.delete(request.params.name);
    return reply.code(204).send();
  });
  app.get<{ Params: { name: string } }>('/api/v1/tasks/:name/credentials', { schema: { tags, params: nameParams } }, async (request) => tasks.listCredentials(request.params.name));
  app.post<{ Params: { name: string }; Body: { loginServer: string; username: string; password: string } }>(
    '/api/v1/tasks/:name/credentials',
    { schema: { tags, summary: 'Add a login for another registry (values are sealed, or name stored secrets)', params: nameParams, body: credentialBody } },
    async (request, reply) => {
      await tasks.setCredential(request.params.name, request.body, 'add');
      return reply.code(201).send(await tasks.listCredentials(request.params.name));
    },
  );
  app.put<{ Params: { name: string; server: string }; Body: { loginServer: string; username: string; password: string } }>(
    '/api/v1/tasks/:name/credentials/:server',
    { schema: { tags, params: credentialParams, body: credentialBody } },
    async (request) => {
      await tasks.setCredential(request.params.name, request.body, 'update');
      return tasks.listCredentials(request.params.name);
    },
  );
  app.delete<{ Params: { name: string; server: string } }>('/api/v1/tasks/:name/credentials/:server', { schema: { tags, params: credentialParams } }, async (request, reply) => {
    await tasks.removeCredential(request.params.name, request.params.server);
    return reply.code(204).send();
  });
  app.post<{ Params: { name: string }; Body: { values?: Record<string, unknown>; secrets?: Record<string, string> } }>(
    '/api/v1/tasks/:name/runs',
    {
      schema: {
        tags,
        summary: 'Run a task now (a Manual trigger)',
        params: nameParams,
        body: { type: 'object', properties: { values: { type: 'object' }, secrets: { type: 'object', additionalProperties: { type: 'string' } } }, additionalProperties: false },
      },
    },
    async (request, reply) => reply.code(202).send(await tasks.run(request.params.name, ctx(request).actor, request.body?.values ?? {}, request.body?.secrets ?? {})),
  );
}
