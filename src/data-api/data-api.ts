import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChangeableAttributes, ListingOrder } from '../metadata/repository-metadata-store.js';
import { RegistryError } from '../registry/errors.js';
import type { ManifestService } from '../registry/manifest-service.js';
import type { RepositoryService } from '../registry/repository-service.js';
import type { RegistryAccess } from '../registry-api/access.js';
import { pageParams, queryParam } from '../registry-api/http-util.js';
import { acrMethods, matchAcrRoute, type AcrRoute } from './acr-routes.js';
import { manifestShape, repositoryShape, tagShape } from './acr-shapes.js';

export interface DataApiOptions {
  repositories: RepositoryService;
  manifests: ManifestService;
  /** The same rights as /v2: pull to read, push to change attributes, delete to delete. */
  access: RegistryAccess;
}

const attributeNames = ['deleteEnabled', 'writeEnabled', 'readEnabled', 'listEnabled'] as const;

function orderOf(request: FastifyRequest): ListingOrder {
  const value = queryParam(request, 'orderby');
  if (value === undefined || value === '') return 'name';
  if (value === 'timedesc' || value === 'timeasc') return value;
  throw new RegistryError('INVALID_REQUEST', `orderby must be timedesc or timeasc, not "${value}"`, { orderby: value });
}

/** ACR's PATCH body: a changeableAttributes object with any of its four booleans. */
function attributeChange(body: unknown): Partial<ChangeableAttributes> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RegistryError('INVALID_REQUEST', 'the body must be a JSON object of changeable attributes');
  const change: Partial<ChangeableAttributes> = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>)) {
    if (!(attributeNames as readonly string[]).includes(key)) throw new RegistryError('INVALID_REQUEST', `unknown attribute "${key}" (${attributeNames.join(', ')})`);
    if (typeof value !== 'boolean') throw new RegistryError('INVALID_REQUEST', `${key} must be true or false`);
    change[key as keyof ChangeableAttributes] = value;
  }
  return change;
}

/** `Link: <path?last=X&n=N[&orderby=O]>; rel="next"` when the page came back full, as ACR sends. */
function setNextLink(reply: FastifyReply, path: string, keys: string[], n: number, order: ListingOrder): void {
  if (n === 0 || keys.length < n) return;
  const orderby = order === 'name' ? '' : `&orderby=${order}`;
  reply.header('Link', `<${path}?last=${encodeURIComponent(keys[keys.length - 1]!)}&n=${n}${orderby}>; rel="next"`);
}

/**
 * ACR's data API under /acr/v1/, so ACR tooling (az acr repository/manifest, acr-cli) can list,
 * inspect, update and delete. Only translates HTTP: RepositoryService does the work.
 */
export async function dataApi(app: FastifyInstance, options: DataApiOptions): Promise<void> {
  const { repositories, access } = options;

  const dispatch = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const path = request.url.split('?', 1)[0]!;
    const route = matchAcrRoute(path);
    if (!route) {
      request.routeLabel = 'acr-unknown';
      throw new RegistryError('NOT_FOUND', 'unknown endpoint', { path });
    }
    request.routeLabel = `acr-${route.kind}`;
    const right = acrMethods[route.kind][request.method];
    if (right === undefined) {
      throw new RegistryError('UNSUPPORTED', `${request.method} is not supported here`, undefined, {
        headers: { Allow: Object.keys(acrMethods[route.kind]).join(', ') },
      });
    }
    await access.authorizeNeed(request, right === 'catalog' || route.kind === 'catalog' ? { kind: 'catalog' } : { kind: 'repository', name: route.name, action: right });
    return handle(route, request, reply);
  };

  const handle = async (route: AcrRoute, request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const registry = request.host;
    const method = request.method;
    switch (route.kind) {
      case 'catalog': {
        const { last, n } = pageParams(request);
        const names = n === 0 ? [] : await options.manifests.listRepositories(last, n);
        setNextLink(reply, '/acr/v1/_catalog', names, n, 'name');
        return { repositories: names };
      }
      case 'repository': {
        if (method === 'PATCH') {
          await repositories.updateRepository(route.name, attributeChange(request.body));
          return reply.code(200).send(await repositoryAnswer(registry, route.name));
        }
        if (method === 'DELETE') return reply.code(202).send(await repositories.deleteRepository(route.name));
        return repositoryAnswer(registry, route.name);
      }
      case 'tags': {
        const { last, n } = pageParams(request);
        const order = orderOf(request);
        const tags = n === 0 ? [] : await repositories.tags(route.name, order, last, n, queryParam(request, 'digest'));
        setNextLink(reply, `/acr/v1/${route.name}/_tags`, tags.map((t) => t.name), n, order);
        return { registry, imageName: route.name, tags: tags.map(tagShape) };
      }
      case 'tag': {
        if (method === 'DELETE') {
          await repositories.untag(route.name, route.tag);
          return reply.code(202).send();
        }
        if (method === 'PATCH') await repositories.updateTag(route.name, route.tag, attributeChange(request.body));
        return { registry, imageName: route.name, tag: tagShape(await repositories.tag(route.name, route.tag)) };
      }
      case 'manifests': {
        const { last, n } = pageParams(request);
        const order = orderOf(request);
        const manifests = n === 0 ? [] : await repositories.manifests(route.name, order, last, n);
        setNextLink(reply, `/acr/v1/${route.name}/_manifests`, manifests.map((m) => m.digest), n, order);
        return { registry, imageName: route.name, manifests: manifests.map(manifestShape) };
      }
      case 'manifest': {
        // Berth's addition: DELETE by tag or digest, answering what went (ACR deletes via /v2).
        if (method === 'DELETE') return reply.code(202).send(await repositories.deleteManifest(route.name, route.reference));
        if (method === 'PATCH') await repositories.updateManifest(route.name, route.reference, attributeChange(request.body));
        return { registry, imageName: route.name, manifest: manifestShape(await repositories.manifest(route.name, route.reference)) };
      }
    }
  };

  const repositoryAnswer = async (registry: string, name: string) => {
    const { detail, storage } = await repositories.repository(name);
    return repositoryShape(registry, detail, storage);
  };

  app.route({ method: ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'], url: '/acr/v1/*', exposeHeadRoute: false, handler: dispatch });
}
