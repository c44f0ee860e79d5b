import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Fastify, { LogController, type FastifyError, type FastifyInstance } from 'fastify';
import { RegistryError, isStorageFull, storageFullError } from '../registry/errors.js';
import type { RegistryMetrics } from '../observability/metrics.js';
import { serverLoggerOptions } from '../observability/logger.js';
import type { Settings } from '../config/settings.js';
import { runWithRequestContext } from '../events/request-context.js';
import { discardUnreadBody } from '../streams/request-body.js';

/** What is read and dropped of a body whose request was already answered (see onResponse). */
const maxDiscardedBodyBytes = 32 * 1024 * 1024;

declare module 'fastify' {
  interface FastifyRequest {
    /** A low-cardinality name of what was asked for, for metrics and logs. */
    routeLabel: string;
  }
}

export interface HttpAppOptions {
  settings: Settings;
  metrics: RegistryMetrics;
  /** False while starting or shutting down, so /readyz can tell load balancers to wait. */
  isReady: () => Promise<boolean>;
}

/**
 * The HTTP server shell shared by every API: TLS, request ids, one JSON log line per request,
 * metrics, health endpoints and the error envelope. APIs are registered on it as plugins.
 */
export function createHttpApp(options: HttpAppOptions): FastifyInstance {
  const { settings, metrics } = options;
  const app = Fastify({
    logger: serverLoggerOptions(settings),
    // One line per request, written by the onResponse hook below with the route and duration.
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // Multi-gigabyte layer uploads may legitimately take long; idle sockets are still reaped.
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    ...(settings.tls
      ? { https: { cert: readFileSync(settings.tls.certFile), key: readFileSync(settings.tls.keyFile) } }
      : {}),
  });

  app.decorateRequest('routeLabel', '');
  // Everything a request causes (registry events, webhooks, audit) can see who asked and how.
  app.addHook('onRequest', (request, _reply, done) => {
    const userAgent = request.headers['user-agent'] ?? '';
    runWithRequestContext({ id: request.id, host: request.host, method: request.method, userAgent, address: request.ip, actor: 'anonymous' }, done);
  });
  app.addHook('onRequest', async (request, reply) => {
    request.routeLabel = request.routeOptions.url ?? 'unknown';
    reply.header('X-Request-Id', request.id);
    // Stored content (manifests, blobs) must never run as a page on this origin, whatever type
    // it claims; the API's answers are data, never documents (a portal sets its own policy).
    reply.header('X-Content-Type-Options', 'nosniff');
    reply.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'; sandbox");
  });
  app.addHook('onResponse', async (request, reply) => {
    // An answer sent before its request's body was all read (refused, failed mid-upload): the
    // rest would otherwise sit unread in front of the connection's next request.
    discardUnreadBody(request.raw, maxDiscardedBodyBytes);
    const seconds = reply.elapsedTime / 1000;
    metrics.observe(request.routeLabel, request.method, reply.statusCode, seconds);
    request.log.info(
      { method: request.method, url: request.url, route: request.routeLabel, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });

  app.setErrorHandler((error: FastifyError | RegistryError, request, reply) => {
    if (error instanceof RegistryError) {
      return reply.code(error.status).headers(error.headers).type('application/json').send(error.toBody());
    }
    if (error.validation) {
      const allowed = error.validation.map((v) => (v.params as { allowedValues?: unknown[] }).allowedValues).find(Array.isArray);
      const message = allowed ? `${error.message} (${allowed.join(', ')})` : error.message;
      return reply.code(400).type('application/json').send(new RegistryError('INVALID_REQUEST', message).toBody());
    }
    if (isStorageFull(error)) {
      request.log.error({ err: error }, 'storage full');
      return reply.code(507).type('application/json').send(storageFullError().toBody());
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    const envelope = new RegistryError(status >= 500 ? 'INTERNAL_ERROR' : 'UNSUPPORTED', status >= 500 ? 'internal server error' : error.message);
    return reply.code(status).type('application/json').send(envelope.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    request.routeLabel = 'unknown';
    reply.code(404).type('application/json').send(new RegistryError('NOT_FOUND', 'unknown endpoint', { path: request.url.split('?')[0] }).toBody());
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const ready = await options.isReady().catch(() => false);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready' });
  });
  app.get('/metrics', async (_request, reply) => {
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  return app;
}
