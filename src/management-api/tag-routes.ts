import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ManifestService } from '../registry/manifest-service.js';
import { RegistryError } from '../registry/errors.js';
import { versionBumps } from '../registry/version-tags.js';

/**
 * /api/v1/next-version-tags: tags a manifest with the next `PREFIX-X.Y.Z` version (S5's platform
 * images). Open to any signed-in identity that may push to the repository, so a run's own token
 * (push to its target repositories) can call it from a task step.
 */
export function tagRoutes(app: FastifyInstance, manifests: ManifestService, mayPush: (request: FastifyRequest, repository: string) => Promise<boolean>): void {
  app.post<{ Body: { repository: string; source: string; prefix: string; bump?: string } }>(
    '/api/v1/next-version-tags',
    {
      config: { access: 'authenticated' },
      schema: {
        tags: ['repositories'],
        summary: 'Tag a manifest with the next PREFIX-X.Y.Z version (1.0.0 first); concurrent calls get distinct versions',
        body: {
          type: 'object',
          properties: {
            repository: { type: 'string', minLength: 1, maxLength: 255 },
            source: { type: 'string', minLength: 1, description: 'a tag or digest of the manifest to tag' },
            prefix: { type: 'string', description: 'tags are PREFIX-X.Y.Z, e.g. 6.0-bullseye-slim' },
            bump: { type: 'string', enum: [...versionBumps], default: 'minor' },
          },
          required: ['repository', 'source', 'prefix'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { repository, source, prefix, bump } = request.body;
      if (!(await mayPush(request, repository))) throw new RegistryError('DENIED', `no push permission on ${repository}`, { repository });
      return reply.code(201).send(await manifests.tagNextVersion(repository, source, prefix, bump ?? 'minor'));
    },
  );
}
