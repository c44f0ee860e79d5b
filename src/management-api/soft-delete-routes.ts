import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import { softDeleteDays, type SoftDeletePolicy, type SoftDeleteService } from '../lifecycle/soft-delete.js';

const repository = { type: 'string', minLength: 1, maxLength: 255 } as const;
const tag = { type: 'string', minLength: 1, maxLength: 128 } as const;
const digest = { type: 'string', minLength: 1, maxLength: 200 } as const;

/**
 * /api/v1/soft-delete (the policy: Owner's) and /api/v1/deleted/... (what is restorable, and
 * restoring it): open to any signed-in identity with the push right on the repository, as a
 * restore is a push of what was there; the list of deleted repositories shows only those.
 */
export function softDeleteRoutes(app: FastifyInstance, service: SoftDeleteService, mayPush: (request: FastifyRequest, repository: string) => Promise<boolean>): void {
  const assertMayPush = async (request: FastifyRequest, name: string) => {
    if (!(await mayPush(request, name))) throw new RegistryError('DENIED', `no push permission on ${name}`, { repository: name });
  };

  app.get('/api/v1/soft-delete', { schema: { tags: ['lifecycle'], summary: 'The soft delete policy (az acr config soft-delete show)' } }, async () => service.policy());
  app.put<{ Body: SoftDeletePolicy }>(
    '/api/v1/soft-delete',
    {
      schema: {
        tags: ['lifecycle'],
        summary: 'Keep deleted manifests and tags restorable for N days (off by default: a delete frees no storage until then)',
        body: {
          type: 'object',
          properties: { status: { type: 'string', enum: ['enabled', 'disabled'] }, days: { type: 'integer', minimum: softDeleteDays.min, maximum: softDeleteDays.max, default: 7 } },
          required: ['status'],
          additionalProperties: false,
        },
      },
    },
    async (request) => service.setPolicy({ status: request.body.status, days: request.body.days ?? 7 }),
  );

  app.get(
    '/api/v1/deleted/repositories',
    { config: { access: 'authenticated' }, schema: { tags: ['lifecycle'], summary: 'Repositories whose content is all deleted and restorable (those the caller may push to)' } },
    async (request) => {
      const all = await service.deletedRepositories();
      const visible = [];
      for (const r of all) if (await mayPush(request, r.name)) visible.push(r);
      return visible;
    },
  );
  app.get<{ Querystring: { repository: string } }>(
    '/api/v1/deleted/manifests',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['lifecycle'],
        summary: "A repository's restorable manifests, newest deletion first",
        querystring: { type: 'object', properties: { repository }, required: ['repository'], additionalProperties: false },
      },
    },
    async (request) => {
      await assertMayPush(request, request.query.repository);
      return service.deletedManifests(request.query.repository);
    },
  );
  app.get<{ Querystring: { repository: string; tag?: string } }>(
    '/api/v1/deleted/tags',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['lifecycle'],
        summary: "A repository's restorable tags (optionally one tag's deletions), newest first",
        querystring: { type: 'object', properties: { repository, tag }, required: ['repository'], additionalProperties: false },
      },
    },
    async (request) => {
      await assertMayPush(request, request.query.repository);
      return service.deletedTags(request.query.repository, request.query.tag ?? null);
    },
  );
  app.post<{ Body: { repository: string; tag?: string; digest?: string; force?: boolean } }>(
    '/api/v1/deleted/restore',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['lifecycle'],
        summary: 'Put a deleted manifest (byte for byte), its references and a tag back; journaled as a push',
        body: {
          type: 'object',
          properties: { repository, tag, digest, force: { type: 'boolean', default: false } },
          required: ['repository'],
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { body } = request;
      await assertMayPush(request, body.repository);
      return service.restore({ repository: body.repository, tag: body.tag ?? null, digest: body.digest ?? null, force: body.force ?? false });
    },
  );
}
