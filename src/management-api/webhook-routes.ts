import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditContext } from '../audit/audit-log.js';
import type { WebhookInput, WebhookService } from '../webhooks/webhook-service.js';
import { webhookActions } from '../webhooks/webhook-store.js';

const nameParams = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] } as const;
const webhookBody = {
  type: 'object',
  properties: {
    uri: { type: 'string' },
    actions: { type: 'array', items: { type: 'string', enum: [...webhookActions] } },
    scope: { type: 'string' },
    headers: { type: 'object', additionalProperties: { type: 'string' } },
    status: { type: 'string', enum: ['enabled', 'disabled'] },
    format: { type: 'string', enum: ['acr', 'cloudevents'] },
    signed: { type: 'boolean', description: 'true: generate an HMAC signing secret (shown once); false: remove it' },
  },
  additionalProperties: false,
} as const;

/** /api/v1/webhooks: ACR's `az acr webhook` operations. Registered inside the management API. */
export function webhookRoutes(app: FastifyInstance, webhooks: WebhookService, ctx: (request: FastifyRequest) => AuditContext): void {
  const tags = ['webhooks'];
  app.get('/api/v1/webhooks', { schema: { tags } }, async () => webhooks.list());
  app.post<{ Body: WebhookInput & { name: string } }>(
    '/api/v1/webhooks',
    { schema: { tags, body: { ...webhookBody, properties: { ...webhookBody.properties, name: { type: 'string' } }, required: ['name', 'uri', 'actions'] } } },
    async (request, reply) => {
      const { name, ...input } = request.body;
      return reply.code(201).send(await webhooks.create(ctx(request), name, input));
    },
  );
  app.get<{ Params: { name: string } }>('/api/v1/webhooks/:name', { schema: { tags, params: nameParams } }, async (request) => webhooks.show(request.params.name));
  app.patch<{ Params: { name: string }; Body: WebhookInput }>('/api/v1/webhooks/:name', { schema: { tags, params: nameParams, body: webhookBody } }, async (request) =>
    webhooks.update(ctx(request), request.params.name, request.body),
  );
  app.delete<{ Params: { name: string } }>('/api/v1/webhooks/:name', { schema: { tags, params: nameParams } }, async (request, reply) => {
    await webhooks.delete(ctx(request), request.params.name);
    return reply.code(204).send();
  });
  app.get<{ Params: { name: string } }>('/api/v1/webhooks/:name/config', { schema: { tags, summary: 'Service URI and custom headers', params: nameParams } }, async (request) =>
    webhooks.config(request.params.name),
  );
  app.post<{ Params: { name: string } }>('/api/v1/webhooks/:name/ping', { schema: { tags, summary: 'Send a test event now', params: nameParams } }, async (request) =>
    webhooks.ping(request.params.name),
  );
  app.get<{ Params: { name: string }; Querystring: { top?: number } }>(
    '/api/v1/webhooks/:name/events',
    {
      schema: {
        tags,
        summary: 'Deliveries, newest first, with request sent and response received (sensitive headers masked)',
        params: nameParams,
        querystring: { type: 'object', properties: { top: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } } },
      },
    },
    async (request) => webhooks.events(request.params.name, request.query.top ?? 50),
  );
}
