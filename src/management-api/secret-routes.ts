import type { FastifyInstance } from 'fastify';
import type { SecretStore } from '../secrets/secret-store.js';

/** /api/v1/secrets: set, list (names only) and delete; no route returns a value. */
export function secretRoutes(app: FastifyInstance, secrets: SecretStore): void {
  const tags = ['secrets'];
  const nameParams = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } as const;
  app.get('/api/v1/secrets', { schema: { tags } }, async () => secrets.list());
  app.put<{ Params: { name: string }; Body: { value: string } }>(
    '/api/v1/secrets/:name',
    { schema: { tags, summary: 'Create or replace a secret', params: nameParams, body: { type: 'object', properties: { value: { type: 'string' } }, required: ['value'], additionalProperties: false } } },
    async (request) => secrets.set(request.params.name, request.body.value),
  );
  app.delete<{ Params: { name: string } }>('/api/v1/secrets/:name', { schema: { tags, params: nameParams } }, async (request, reply) => {
    await secrets.delete(request.params.name);
    return reply.code(204).send();
  });
}
