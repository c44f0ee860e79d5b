import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ImportService, Requester } from '../import/import-service.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * 'authenticated': any logged-in identity may call the route (it checks finer rights itself).
     * 'signed': no login; the route verifies a signature over the body itself (push webhooks).
     */
    access?: 'authenticated' | 'signed';
  }
}

/**
 * /api/v1/imports: open to any authenticated identity; the service checks push rights on every
 * target (and pull on the source when it is this registry), and shows a job only to its
 * requester, the Owner role and those who may pull all of its targets.
 */
export function importRoutes(app: FastifyInstance, imports: ImportService, requester: (request: FastifyRequest) => Requester): void {
  const tags = ['import'];
  const config = { access: 'authenticated' as const };
  app.post<{
    Body: { source: string; targetTags?: string[]; untaggedRepositories?: string[]; force?: boolean; includeReferrers?: boolean; username?: string; password?: string };
  }>(
    '/api/v1/imports',
    {
      config,
      schema: {
        tags,
        summary: 'Import an image from any registry (a job; poll GET /api/v1/imports/{id})',
        body: {
          type: 'object',
          properties: {
            source: { type: 'string', description: 'registry/repo:tag or registry/repo@digest' },
            targetTags: { type: 'array', items: { type: 'string' } },
            untaggedRepositories: { type: 'array', items: { type: 'string' } },
            force: { type: 'boolean' },
            includeReferrers: { type: 'boolean' },
            username: { type: 'string' },
            password: { type: 'string' },
          },
          required: ['source'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { username, password, ...rest } = request.body;
      const job = await imports.submit(requester(request), {
        ...rest,
        ...(username !== undefined ? { credentials: { username, password: password ?? '' } } : {}),
      });
      return reply.code(202).send(job);
    },
  );
  app.get<{ Querystring: { top?: number } }>(
    '/api/v1/imports',
    {
      config,
      schema: {
        tags,
        summary: 'Import jobs the caller may see, newest first: its own, all for Owners, and those whose every target it may pull',
        querystring: { type: 'object', properties: { top: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } } },
      },
    },
    async (request) => imports.list(requester(request), request.query.top ?? 50),
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/imports/:id',
    { config, schema: { tags, summary: 'One import job (404 for a job the caller may not see)', params: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } } },
    async (request) => imports.get(requester(request), request.params.id),
  );
}
