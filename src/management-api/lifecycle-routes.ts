import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import type { GarbageCollector } from '../lifecycle/garbage-collector.js';
import type { LifecycleStore, RetentionPolicy } from '../lifecycle/lifecycle-store.js';
import { PurgeArgumentError } from '../lifecycle/purge-options.js';
import type { PurgeRequest, PurgeService } from '../lifecycle/purge-service.js';

export interface LifecycleRouteOptions {
  purge: PurgeService;
  store: LifecycleStore;
  collector: GarbageCollector;
  /** Whether the caller has the delete right on a repository (Owner, AcrDelete, a token with content/delete). */
  mayDelete: (request: FastifyRequest, repository: string) => Promise<boolean>;
}

/**
 * /api/v1/purge, /api/v1/retention, /api/v1/gc/runs. Purge is open to any signed-in identity with
 * the delete right on every repository its filters select (checked before anything is deleted),
 * so a run's own token can purge what its task's purge step names; retention and GC are Owner's.
 */
export function lifecycleRoutes(app: FastifyInstance, options: LifecycleRouteOptions): void {
  app.post<{ Body: PurgeRequest }>(
    '/api/v1/purge',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['lifecycle'],
        summary: "acr purge on the server: delete tags (and untagged manifests) by filter and age, protected by construction",
        body: {
          type: 'object',
          properties: {
            filters: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 1024 }, maxItems: 100, default: [] },
            ago: { type: 'string', maxLength: 64 },
            keep: { type: 'integer', minimum: 0 },
            untagged: { type: 'boolean' },
            untaggedOnly: { type: 'boolean' },
            dryRun: { type: 'boolean' },
            includeLocked: { type: 'boolean' },
            concurrency: { type: 'integer', minimum: 1, maximum: 32 },
          },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      let selection;
      try {
        selection = await options.purge.select(request.body);
      } catch (error) {
        if (error instanceof PurgeArgumentError) throw new RegistryError('INVALID_REQUEST', error.message);
        throw error;
      }
      const denied: string[] = [];
      for (const repository of selection.repositories.keys()) if (!(await options.mayDelete(request, repository))) denied.push(repository);
      // All or nothing: a purge that silently skipped some repositories would look like it worked.
      if (denied.length > 0) throw new RegistryError('DENIED', `no delete permission on ${denied.slice(0, 10).join(', ')}${denied.length > 10 ? ` and ${denied.length - 10} more` : ''}`, { repositories: denied });
      return options.purge.purge(request.body, selection);
    },
  );

  app.get('/api/v1/retention', { schema: { tags: ['lifecycle'], summary: 'The untagged-manifest retention policy' } }, async () => options.store.retentionPolicy());
  app.put<{ Body: RetentionPolicy }>(
    '/api/v1/retention',
    {
      schema: {
        tags: ['lifecycle'],
        summary: 'Delete manifests untagged for N days (0: right away), OCI and Docker alike',
        body: {
          type: 'object',
          properties: { status: { type: 'string', enum: ['enabled', 'disabled'] }, days: { type: 'integer', minimum: 0, maximum: 365 }, type: { type: 'string', enum: ['UntaggedManifests'] } },
          required: ['status', 'days'],
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const policy: RetentionPolicy = { status: request.body.status, days: request.body.days, type: 'UntaggedManifests' };
      await options.store.setRetentionPolicy(policy);
      return policy;
    },
  );

  app.post<{ Body: { dryRun?: boolean } }>(
    '/api/v1/gc/runs',
    {
      schema: {
        tags: ['lifecycle'],
        summary: 'Collect garbage now (or, dry, count what would go); the registry stays writable',
        body: { type: ['object', 'null'], properties: { dryRun: { type: 'boolean' } }, additionalProperties: false },
      },
    },
    async (request) => options.collector.run('manual', request.body?.dryRun ?? false),
  );
  app.get<{ Querystring: { top?: number } }>(
    '/api/v1/gc/runs',
    { schema: { tags: ['lifecycle'], summary: 'Last garbage collections, newest first', querystring: { type: 'object', properties: { top: { type: 'integer', minimum: 1, maximum: 100, default: 10 } } } } },
    async (request) => options.store.gcRuns(request.query.top ?? 10),
  );
}
