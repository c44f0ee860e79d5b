import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import type { BlobService } from '../registry/blob-service.js';
import type { ManifestService } from '../registry/manifest-service.js';
import type { RegistryMetrics } from '../observability/metrics.js';
import { BlobHandlers } from './blob-handlers.js';
import { ManifestHandlers, type PullRecorder } from './manifest-handlers.js';
import { allowedMethods, matchRegistryRoute, type RegistryRoute } from './routes.js';
import type { RegistryAccess } from './access.js';
import { streamedBodyParser, type BodyIdlePolicy } from '../streams/request-body.js';

export interface RegistryApiOptions {
  blobs: BlobService;
  manifests: ManifestService;
  metrics: RegistryMetrics;
  access: RegistryAccess;
  /** How long an upload body may send nothing before it is cut off. */
  bodyIdle: BodyIdlePolicy;
  /** Counts pulls for the statistics (none: not counted). */
  pulls?: PullRecorder;
}

async function sendEmptyObject(reply: FastifyReply): Promise<FastifyReply> {
  return reply.type('application/json').send('{}');
}

/** The OCI Distribution API under /v2/: translates HTTP to the blob and manifest services. */
export async function registryApi(app: FastifyInstance, options: RegistryApiOptions): Promise<void> {
  const blobHandlers = new BlobHandlers(options.blobs, options.metrics, options.access);
  const manifestHandlers = new ManifestHandlers(options.manifests, options.metrics, options.pulls ?? null);

  // Bodies are streamed to storage by the handlers, never buffered by the framework.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', streamedBodyParser(options.bodyIdle));

  app.addHook('onSend', async (_request, reply) => {
    reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  });

  const dispatch = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const path = request.url.split('?', 1)[0]!;
    const route = matchRegistryRoute(path);
    if (!route) {
      request.routeLabel = 'unknown';
      throw new RegistryError('NOT_FOUND', 'unknown endpoint', { path });
    }
    request.routeLabel = route.kind;
    if (!allowedMethods[route.kind].includes(request.method)) {
      throw new RegistryError('UNSUPPORTED', `${request.method} is not supported here`, undefined, {
        headers: { Allow: allowedMethods[route.kind].join(', ') },
      });
    }
    await options.access.authorize(request, route);
    return handle(route, request, reply);
  };

  const handle = (route: RegistryRoute, request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const method = request.method;
    switch (route.kind) {
      case 'base':
        return sendEmptyObject(reply);
      case 'catalog':
        return manifestHandlers.catalog(request, reply);
      case 'tags':
        return manifestHandlers.tags(request, reply, route.name);
      case 'referrers':
        return manifestHandlers.referrers(request, reply, route.name, route.digest);
      case 'manifest':
        if (method === 'PUT') return manifestHandlers.put(request, reply, route.name, route.reference);
        if (method === 'DELETE') return manifestHandlers.delete(reply, route.name, route.reference);
        return manifestHandlers.get(request, reply, route.name, route.reference);
      case 'blob':
        if (method === 'DELETE') return blobHandlers.delete(reply, route.name, route.digest);
        return blobHandlers.get(request, reply, route.name, route.digest);
      case 'uploads':
        return blobHandlers.start(request, reply, route.name);
      case 'upload':
        if (method === 'PATCH') return blobHandlers.patch(request, reply, route.name, route.id);
        if (method === 'PUT') return blobHandlers.complete(request, reply, route.name, route.id);
        if (method === 'DELETE') return blobHandlers.cancel(reply, route.name, route.id);
        return blobHandlers.status(reply, route.name, route.id);
    }
  };

  const methods = ['GET', 'HEAD', 'PUT', 'PATCH', 'POST', 'DELETE'] as const;
  app.route({ method: [...methods], url: '/v2', exposeHeadRoute: false, handler: dispatch });
  app.route({ method: [...methods], url: '/v2/*', exposeHeadRoute: false, handler: dispatch });
}
