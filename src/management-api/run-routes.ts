import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import type { AuditContext } from '../audit/audit-log.js';
import { RegistryError } from '../registry/errors.js';
import type { RunService } from '../tasks/run-service.js';
import { streamedBodyParser, type BodyIdlePolicy } from '../streams/request-body.js';
import { finalStatuses, runStatuses, type RunStatus } from '../tasks/run-store.js';

const idParams = { type: 'object', properties: { id: { type: 'string', pattern: '^[a-z0-9]{1,20}$' } }, required: ['id'] } as const;

/** /api/v1/contexts and /api/v1/runs: quick builds and runs, their history and logs. */
export function runRoutes(app: FastifyInstance, runs: RunService, ctx: (request: FastifyRequest) => AuditContext, bodyIdle: BodyIdlePolicy): void {
  const tags = ['runs'];
  app.addContentTypeParser(['application/x-tar', 'application/octet-stream'], streamedBodyParser(bodyIdle));

  app.post('/api/v1/contexts', { schema: { tags, summary: 'Upload a source context (a tar archive) for a run' } }, async (request, reply) => {
    if (!request.body || typeof (request.body as Readable).pipe !== 'function') throw new RegistryError('INVALID_REQUEST', 'send the context as application/x-tar');
    return reply.code(201).send(await runs.contexts.save(request.body as Readable));
  });

  app.post<{
    Body: {
      type: 'build' | 'cmd' | 'file';
      taskFile?: string;
      taskFilePath?: string;
      values?: Record<string, unknown>;
      secrets?: Record<string, string>;
      contextId?: string;
      contextUrl?: string;
      gitAccessToken?: string;
      platform?: string;
      tags?: string[];
      dockerfile?: string;
      buildArgs?: Record<string, string>;
      secretBuildArgs?: Record<string, string>;
      target?: string;
      noPush?: boolean;
      command?: string;
      timeout?: number;
    };
  }>(
    '/api/v1/runs',
    {
      schema: {
        tags,
        summary: 'Queue a quick build (type build), a quick run (type cmd) or a task file run (type file)',
        body: {
          type: 'object',
          properties: {
            type: { type: 'string', enum: ['build', 'cmd', 'file'] },
            taskFile: { type: 'string', maxLength: 1048576 },
            taskFilePath: { type: 'string', maxLength: 1024, description: 'the task file inside a git or tarball context (instead of taskFile)' },
            values: { type: 'object' },
            secrets: { type: 'object', additionalProperties: { type: 'string' } },
            contextId: { type: 'string' },
            contextUrl: { type: 'string', maxLength: 2048, description: 'a git (https://host/org/repo.git#ref:folder) or tarball URL, fetched when the run starts' },
            gitAccessToken: { type: 'string', description: 'for a private git context; kept in memory until an agent takes the run' },
            platform: { type: 'string', description: 'os/architecture[/variant]; default linux/amd64' },
            tags: { type: 'array', items: { type: 'string' } },
            dockerfile: { type: 'string' },
            buildArgs: { type: 'object', additionalProperties: { type: 'string' } },
            secretBuildArgs: { type: 'object', additionalProperties: { type: 'string' } },
            target: { type: 'string' },
            noPush: { type: 'boolean' },
            command: { type: 'string' },
            timeout: { type: 'integer' },
          },
          required: ['type'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const who = ctx(request).actor;
      const source = { contextId: body.contextId ?? null, contextUrl: body.contextUrl ?? null, gitAccessToken: body.gitAccessToken ?? null, platform: body.platform ?? null };
      const timeout = body.timeout ? { timeoutSeconds: body.timeout } : {};
      if (body.type === 'build') {
        const { type: _type, command: _command, timeout: _timeout, contextId: _id, contextUrl: _url, gitAccessToken: _token, platform: _platform, ...rest } = body;
        return reply.code(202).send(await runs.quickBuild(who, { ...rest, ...source, tags: body.tags ?? [], ...timeout }));
      }
      if (body.type === 'file') {
        return reply.code(202).send(await runs.fileRun(who, { taskFile: body.taskFile ?? null, taskFilePath: body.taskFilePath ?? null, values: body.values ?? {}, secrets: body.secrets ?? {}, ...source, ...timeout }));
      }
      if (!body.command) throw new RegistryError('INVALID_REQUEST', 'a quick run needs --cmd');
      return reply.code(202).send(await runs.quickRun(who, { command: body.command, ...source, ...timeout }));
    },
  );

  app.get<{ Querystring: { task?: string; status?: RunStatus; image?: string; top?: number } }>(
    '/api/v1/runs',
    {
      schema: {
        tags,
        querystring: {
          type: 'object',
          properties: {
            task: { type: 'string' },
            status: { type: 'string', enum: [...runStatuses] },
            image: { type: 'string' },
            top: { type: 'integer', minimum: 1, maximum: 1000, default: 15 },
          },
        },
      },
    },
    async (request) => {
      const { task, ...rest } = request.query;
      return runs.list({ ...rest, ...(task ? { taskName: task } : {}), top: request.query.top ?? 15 });
    },
  );
  app.get<{ Params: { id: string } }>('/api/v1/runs/:id', { schema: { tags, params: idParams } }, async (request) => runs.get(request.params.id));
  app.post<{ Params: { id: string } }>('/api/v1/runs/:id/cancel', { schema: { tags, params: idParams } }, async (request) => runs.cancel(request.params.id));

  app.get<{ Params: { id: string }; Querystring: { follow?: boolean } }>(
    '/api/v1/runs/:id/logs',
    { schema: { tags, summary: 'The run log; with follow=true it streams until the run ends', params: idParams, querystring: { type: 'object', properties: { follow: { type: 'boolean' } } } } },
    async (request, reply) => {
      await runs.get(request.params.id);
      reply.raw.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
      let after = 0;
      let closed = false;
      request.raw.on('close', () => (closed = true));
      for (;;) {
        for (const chunk of await runs.readLog(request.params.id, after)) {
          reply.raw.write(chunk.text);
          after = chunk.seq;
        }
        const run = await runs.get(request.params.id);
        if (!request.query.follow || closed || finalStatuses.has(run.status)) {
          // A final status is written after the last log line, so one more read catches the tail.
          for (const chunk of await runs.readLog(request.params.id, after)) reply.raw.write(chunk.text);
          break;
        }
        await new Promise((r) => setTimeout(r, 300));
      }
      reply.raw.end();
      return reply;
    },
  );
}
