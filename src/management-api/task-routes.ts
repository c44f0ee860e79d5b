import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditContext } from '../audit/audit-log.js';
import type { TaskInput, TaskService } from '../tasks/task-service.js';

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
  },
  additionalProperties: false,
} as const;

type TaskBody = Omit<TaskInput, 'timeoutSeconds'> & { timeout?: number };

const toInput = ({ timeout, ...rest }: TaskBody): TaskInput => ({ ...rest, ...(timeout !== undefined ? { timeoutSeconds: timeout } : {}) });

const credentialParams = { type: 'object', properties: { name: { type: 'string' }, server: { type: 'string' } }, required: ['name', 'server'] } as const;
const credentialBody = {
  type: 'object',
  properties: { loginServer: { type: 'string' }, username: { type: 'string' }, password: { type: 'string' } },
  required: ['loginServer', 'username', 'password'],
  additionalProperties: false,
} as const;

/** /api/v1/tasks: ACR's `az acr task create|update|show|list|delete|run` and `task credential`. */
export function taskRoutes(app: FastifyInstance, tasks: TaskService, ctx: (request: FastifyRequest) => AuditContext): void {
  const tags = ['tasks'];
  app.get('/api/v1/tasks', { schema: { tags } }, async () => (await tasks.list()).map((t) => tasks.view(t)));
  app.post<{ Body: TaskBody & { name: string } }>(
    '/api/v1/tasks',
    { schema: { tags, body: { ...taskBody, properties: { ...taskBody.properties, name: { type: 'string' } }, required: ['name'] } } },
    async (request, reply) => {
      const { name, ...rest } = request.body;
      return reply.code(201).send(tasks.view(await tasks.create(name, toInput(rest))));
    },
  );
  app.get<{ Params: { name: string } }>('/api/v1/tasks/:name', { schema: { tags, params: nameParams } }, async (request) => tasks.view(await tasks.show(request.params.name)));
  app.patch<{ Params: { name: string }; Body: TaskBody }>('/api/v1/tasks/:name', { schema: { tags, params: nameParams, body: taskBody } }, async (request) =>
    tasks.view(await tasks.update(request.params.name, toInput(request.body))),
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
