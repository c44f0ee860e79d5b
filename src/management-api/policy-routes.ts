import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuditContext } from '../audit/audit-log.js';
import type { PolicyInput } from '../lifecycle/policy.js';
import type { PolicyService } from '../lifecycle/policy-service.js';
import { RegistryError } from '../registry/errors.js';

const pattern = { type: 'string', minLength: 1, maxLength: 1024 } as const;
const duration = { type: 'string', minLength: 1, maxLength: 64, description: "purge's --ago syntax: [N]d[duration], e.g. 1d, 2d3h6m, 10m, 0d" } as const;
const patterns = { type: 'array', items: pattern, maxItems: 50 } as const;
const rules = {
  type: 'object',
  description: 'A tag is deleted only if a delete rule selects it and no keep rule or exclude (of any enabled policy matching the repository) holds it',
  properties: {
    keepTags: { ...patterns, description: 'tag regexes (unanchored) kept for ever' },
    keepNewest: {
      type: 'array',
      maxItems: 50,
      description: 'per pattern: the N newest tags matching it stay (each entry counts on its own)',
      items: { type: 'object', properties: { count: { type: 'integer', minimum: 1 }, pattern: { ...pattern, default: '.*' } }, required: ['count'], additionalProperties: false },
    },
    keepPushedWithin: { ...duration, type: ['string', 'null'] },
    keepPulledWithin: { ...duration, type: ['string', 'null'] },
    deleteTags: {
      type: 'array',
      maxItems: 50,
      description: 'tags matching the regex and last pushed more than olderThan ago',
      items: { type: 'object', properties: { pattern, olderThan: duration }, required: ['pattern', 'olderThan'], additionalProperties: false },
    },
    deleteUntaggedAfter: { ...duration, type: ['string', 'null'] },
    exclude: { ...patterns, description: 'tag regexes no rule ever touches' },
  },
  additionalProperties: false,
} as const;
const policyBody = {
  type: 'object',
  properties: {
    repository: { type: 'string', minLength: 1, maxLength: 1024, description: 'repository regex, anchored (^…$), case-insensitive, as purge --filter' },
    status: { type: 'string', enum: ['enabled', 'disabled'] },
    rules,
  },
  additionalProperties: false,
} as const;
/**
 * The API's validator drops unknown properties silently; for a policy that would turn a typo
 * (`keepTag`) into a rule set without its keep rule, so unknown names are refused first.
 */
async function refuseUnknownProperties(request: FastifyRequest): Promise<void> {
  const body = request.body as Record<string, unknown> | null | undefined;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return;
  const check = (value: unknown, schema: { properties: Record<string, unknown> }, where: string) => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return;
    const unknown = Object.keys(value).filter((k) => !(k in schema.properties));
    if (unknown.length > 0) throw new RegistryError('INVALID_REQUEST', `unknown ${where} ${unknown.map((k) => JSON.stringify(k)).join(', ')}: use ${Object.keys(schema.properties).join(', ')}`);
  };
  check(body, { properties: { ...policyBody.properties, name: true } }, 'policy property');
  check(body.rules, rules, 'rule');
  const r = body.rules as Record<string, unknown> | undefined;
  for (const item of Array.isArray(r?.keepNewest) ? r.keepNewest : []) check(item, rules.properties.keepNewest.items, 'keepNewest property');
  for (const item of Array.isArray(r?.deleteTags) ? r.deleteTags : []) check(item, rules.properties.deleteTags.items, 'deleteTags property');
}

const nameParams = { type: 'object', properties: { name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name'] } as const;
const which = { type: ['object', 'null'], properties: { name: { type: 'string', minLength: 1, maxLength: 64, description: 'this policy alone (enabled or not); default: every enabled policy' } }, additionalProperties: false } as const;

/**
 * /api/v1/policies: declarative lifecycle policies (Owner only, as retention and GC), their
 * preview (exactly what an evaluation now deletes, and why) and an evaluation on demand.
 */
export function policyRoutes(app: FastifyInstance, policies: PolicyService, ctx: (request: FastifyRequest) => AuditContext): void {
  const tags = ['lifecycle'];
  app.get('/api/v1/policies', { schema: { tags, summary: 'Lifecycle policies' } }, async () => policies.list());
  app.post<{ Body: PolicyInput & { name: string } }>(
    '/api/v1/policies',
    { preValidation: refuseUnknownProperties, schema: { tags, summary: 'Create a lifecycle policy', body: { ...policyBody, properties: { ...policyBody.properties, name: { type: 'string', minLength: 1, maxLength: 64 } }, required: ['name', 'repository', 'rules'] } } },
    async (request, reply) => {
      const { name, ...input } = request.body;
      return reply.code(201).send(await policies.create(ctx(request), name, input));
    },
  );
  // Static routes first: a policy may not be called "preview" or "evaluate" for POST, but GET/PATCH/DELETE by name still work.
  app.post<{ Body: { name?: string } | null }>(
    '/api/v1/policies/preview',
    { schema: { tags, summary: 'What an evaluation now would delete (tags, manifests, bytes freed, the rule choosing each); deletes nothing', body: which } },
    async (request) => policies.preview(request.body?.name),
  );
  app.post<{ Body: { name?: string } | null }>(
    '/api/v1/policies/evaluate',
    { schema: { tags, summary: 'Evaluate now (every enabled policy, or one); every deletion is audited with its rule', body: which } },
    async (request) => policies.evaluate(request.body?.name, 'manual', ctx(request)),
  );
  app.get<{ Params: { name: string } }>('/api/v1/policies/:name', { schema: { tags, summary: 'One lifecycle policy', params: nameParams } }, async (request) => policies.show(request.params.name));
  app.patch<{ Params: { name: string }; Body: PolicyInput }>(
    '/api/v1/policies/:name',
    { preValidation: refuseUnknownProperties, schema: { tags, summary: 'Change a policy: repository and status when given; rules, when given, replace the rules as a whole', params: nameParams, body: policyBody } },
    async (request) => policies.update(ctx(request), request.params.name, request.body),
  );
  app.delete<{ Params: { name: string } }>('/api/v1/policies/:name', { schema: { tags, summary: 'Delete a lifecycle policy', params: nameParams } }, async (request, reply) => {
    await policies.delete(ctx(request), request.params.name);
    return reply.code(204).send();
  });
}
