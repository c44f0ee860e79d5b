import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import type { AgentBackend, RunOutcome, RunProgress } from '../tasks/agents/agent-backend.js';
import { runStatuses } from '../tasks/run-store.js';

export interface AgentApiOptions {
  backend: AgentBackend;
  /** Without a key there are no remote agents, and every call is refused. */
  agentKey: string | undefined;
}

const agentName = { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$' } as const;
const runParams = { type: 'object', properties: { agent: agentName, id: { type: 'string', pattern: '^[a-z0-9]{1,20}$' } }, required: ['agent', 'id'] } as const;
const steps = { type: 'array', items: { type: 'object' } } as const;
const outputImages = { type: 'array', items: { type: 'object', properties: { registry: { type: 'string' }, repository: { type: 'string' }, tag: { type: 'string' }, digest: { type: 'string' } } } } as const;

const baseImages = {
  type: 'array',
  maxItems: 1000,
  items: {
    type: 'object',
    properties: {
      registry: { type: 'string' },
      repository: { type: 'string' },
      tag: { type: 'string' },
      digest: { type: ['string', 'null'] },
      dependency: { type: 'string', enum: ['runtime', 'buildtime'] },
    },
    required: ['registry', 'repository', 'tag', 'digest', 'dependency'],
    additionalProperties: false,
  },
} as const;

type RunRoute = { Params: { agent: string; id: string } };

/**
 * /api/v1/agent/...: the agent seam over HTTP, for `berth agent --server URL`. Agents present the
 * shared agent key as a Bearer token; each run-scoped call is honoured only for the agent that
 * holds the run's lease (the backend checks), so a key holder cannot read another run's secrets
 * through an agent name it does not own the run under.
 */
export async function agentApi(app: FastifyInstance, options: AgentApiOptions): Promise<void> {
  const { backend } = options;
  const expected = options.agentKey ? createHash('sha256').update(options.agentKey).digest() : null;

  app.addHook('onRequest', async (request: FastifyRequest) => {
    if (!request.url.startsWith('/api/v1/agent/')) return;
    if (!expected) throw new RegistryError('UNSUPPORTED', 'remote agents are off: start the server with BERTH_AGENT_KEY (or --agent-key-file)', undefined, { status: 404 });
    const header = request.headers.authorization ?? '';
    const given = /^bearer /i.test(header) ? createHash('sha256').update(header.slice(7).trim()).digest() : null;
    if (!given || !timingSafeEqual(given, expected)) {
      throw new RegistryError('UNAUTHORIZED', 'a valid agent key is required', undefined, { headers: { 'WWW-Authenticate': 'Bearer realm="berth-agents"' } });
    }
  });

  const schema = { hide: true, tags: ['agents'] };
  app.get('/api/v1/agent/:agent/ping', { schema }, async () => ({ ok: true }));
  app.post<{ Params: { agent: string } }>('/api/v1/agent/:agent/started', { schema: { ...schema, params: { type: 'object', properties: { agent: agentName }, required: ['agent'] } } }, async (request) => ({
    abandoned: await backend.started(request.params.agent),
  }));
  app.post<{ Params: { agent: string }; Body: { platforms: string[] } }>(
    '/api/v1/agent/:agent/claim',
    {
      schema: {
        ...schema,
        params: { type: 'object', properties: { agent: agentName }, required: ['agent'] },
        body: { type: 'object', properties: { platforms: { type: 'array', items: { type: 'string', maxLength: 64 }, maxItems: 16 } }, required: ['platforms'] },
      },
    },
    async (request, reply) => {
    const claimed = await backend.claim(request.params.agent, request.body.platforms);
    return claimed ? claimed : reply.code(204).send();
    },
  );
  app.post<RunRoute>('/api/v1/agent/:agent/runs/:id/heartbeat', { schema: { ...schema, params: runParams } }, async (request) => backend.heartbeat(request.params.id, request.params.agent));
  app.patch<RunRoute & { Body: RunProgress }>(
    '/api/v1/agent/:agent/runs/:id',
    { schema: { ...schema, params: runParams, body: { type: 'object', properties: { startedAt: { type: 'string' }, steps, outputImages }, additionalProperties: false } } },
    async (request, reply) => {
      await backend.progress(request.params.id, request.params.agent, request.body);
      return reply.code(204).send();
    },
  );
  app.post<RunRoute & { Body: string }>('/api/v1/agent/:agent/runs/:id/log', { schema: { ...schema, params: runParams } }, async (request, reply) => {
    if (typeof request.body !== 'string') throw new RegistryError('INVALID_REQUEST', 'send log text as text/plain');
    await backend.appendLog(request.params.id, request.params.agent, request.body);
    return reply.code(204).send();
  });
  app.get<RunRoute>('/api/v1/agent/:agent/runs/:id/context', { schema: { ...schema, params: runParams } }, async (request, reply) =>
    reply.type('application/x-tar').send(await backend.openContext(request.params.id, request.params.agent)),
  );
  app.post<RunRoute & { Body: { pushRepositories: string[]; purgeRepositories?: string[] } }>(
    '/api/v1/agent/:agent/runs/:id/login',
    { schema: { ...schema, params: runParams, body: { type: 'object', properties: { pushRepositories: { type: 'array', items: { type: 'string' } }, purgeRepositories: { type: 'array', items: { type: 'string' } } }, required: ['pushRepositories'] } } },
    async (request) => ({ login: await backend.issueLogin(request.params.id, request.params.agent, request.body.pushRepositories, request.body.purgeRepositories ?? []) }),
  );
  app.get<{ Params: { agent: string; id: string; name: string } }>(
    '/api/v1/agent/:agent/runs/:id/secrets/:name',
    { schema: { ...schema, params: { ...runParams, properties: { ...runParams.properties, name: { type: 'string' } }, required: ['agent', 'id', 'name'] } } },
    async (request) => ({ value: await backend.secret(request.params.id, request.params.agent, request.params.name) }),
  );
  app.get<RunRoute>('/api/v1/agent/:agent/runs/:id/task-logins', { schema: { ...schema, params: runParams } }, async (request) => ({
    logins: await backend.taskLogins(request.params.id, request.params.agent),
  }));
  app.post<RunRoute & { Body: RunOutcome }>(
    '/api/v1/agent/:agent/runs/:id/finish',
    {
      schema: {
        ...schema,
        params: runParams,
        body: {
          type: 'object',
          properties: { status: { type: 'string', enum: [...runStatuses] }, error: { type: ['string', 'null'] }, steps, outputImages, baseImages },
          required: ['status', 'error', 'steps', 'outputImages'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      await backend.finish(request.params.id, request.params.agent, request.body);
      return reply.code(204).send();
    },
  );
}
