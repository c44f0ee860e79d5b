import type { FastifyInstance, FastifyRequest } from 'fastify';
import swagger from '@fastify/swagger';
import type { AccessManagement } from '../auth/access-management.js';
import type { AuditContext } from '../audit/audit-log.js';
import type { AuditLog } from '../audit/audit-log.js';
import { liveIdentity, unauthorized, type HttpAuthComponents } from '../auth/http-auth.js';
import { describeIdentity } from '../auth/identity.js';
import { repositoryActions, roles } from '../auth/permissions.js';
import { RegistryError } from '../registry/errors.js';
import type { WebhookService } from '../webhooks/webhook-service.js';
import { webhookRoutes } from './webhook-routes.js';
import type { ImportService, Requester } from '../import/import-service.js';
import { importRoutes } from './import-routes.js';
import type { RunService } from '../tasks/run-service.js';
import { runRoutes } from './run-routes.js';
import type { TaskService } from '../tasks/task-service.js';
import { taskRoutes } from './task-routes.js';
import { triggerRoutes, type TriggerRouteOptions } from './trigger-routes.js';
import type { SecretStore } from '../secrets/secret-store.js';
import { secretRoutes } from './secret-routes.js';
import type { BodyIdlePolicy } from '../streams/request-body.js';
import type { Identity } from '../auth/identity.js';
import type { ManifestService } from '../registry/manifest-service.js';
import { tagRoutes } from './tag-routes.js';
import { lifecycleRoutes, type LifecycleRouteOptions } from './lifecycle-routes.js';
import type { SoftDeleteService } from '../lifecycle/soft-delete.js';
import { softDeleteRoutes } from './soft-delete-routes.js';
import type { PolicyService } from '../lifecycle/policy-service.js';
import { policyRoutes } from './policy-routes.js';

export interface ManagementApiOptions {
  access: AccessManagement;
  audit: AuditLog;
  /** Null with `--auth none`: the API is open, as is the registry. */
  auth: HttpAuthComponents | null;
  webhooks: WebhookService;
  imports: ImportService;
  runs: RunService;
  tasks: TaskService;
  secrets: SecretStore;
  /** Base images, source events and the push-webhook receiver. */
  triggers: Omit<TriggerRouteOptions, 'tasks'>;
  manifests: ManifestService;
  lifecycle: Omit<LifecycleRouteOptions, 'mayDelete'>;
  softDelete: SoftDeleteService;
  policies: PolicyService;
  version: string;
  bodyIdle: BodyIdlePolicy;
}

const name = { type: 'string', minLength: 1, maxLength: 64 } as const;
const nameParams = { type: 'object', properties: { name }, required: ['name'] } as const;
const rule = {
  type: 'object',
  properties: { repository: { type: 'string' }, actions: { type: 'array', items: { type: 'string', enum: [...repositoryActions] }, minItems: 1 } },
  required: ['repository', 'actions'],
  additionalProperties: false,
} as const;
const expiry = { type: ['string', 'null'], description: 'ISO 8601 time, or null for never' } as const;

/** JSON API for everything an administrator does; Owner role required. OpenAPI at /api/v1/openapi.json. */
export async function managementApi(app: FastifyInstance, options: ManagementApiOptions): Promise<void> {
  const { access } = options;
  await app.register(swagger, {
    openapi: {
      info: { title: 'Berth management API', version: options.version, description: 'Users, roles, tokens, scope maps, settings and the audit log.' },
      components: { securitySchemes: { basic: { type: 'http', scheme: 'basic' }, bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
      security: [{ basic: [] }, { bearer: [] }],
    },
  });

  const contexts = new WeakMap<FastifyRequest, AuditContext>();
  const requesters = new WeakMap<FastifyRequest, Requester>();
  const identities = new WeakMap<FastifyRequest, Identity>();
  const ctx = (request: FastifyRequest): AuditContext => contexts.get(request) ?? { actor: 'anonymous', client: request.ip };
  const requester = (request: FastifyRequest): Requester => requesters.get(request) ?? { kind: 'anonymous', name: '' };

  // onRequest, before any body is read or validated: an anonymous caller learns nothing about a
  // route's schema, and an unauthorised upload is refused before its bytes are taken.
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === '/api/v1/openapi.json' || request.routeOptions.config.access === 'signed') return;
    if (!options.auth) {
      contexts.set(request, { actor: 'anonymous', client: request.ip });
      return;
    }
    const auth = request.auth!;
    if (auth.anonymous) throw unauthorized(options.auth.realm, request, 'authentication required');
    const identity = await liveIdentity(options.auth, auth);
    if (!identity) throw unauthorized(options.auth.realm, request, 'authentication required');
    // Routes marked 'authenticated' check finer permissions themselves (import: push on targets).
    const openToAll = request.routeOptions.config.access === 'authenticated';
    if (!openToAll && !options.auth.identities.isOwner(identity)) {
      throw new RegistryError('DENIED', 'the management API needs the Owner role');
    }
    contexts.set(request, { actor: describeIdentity(identity), client: request.ip });
    identities.set(request, identity);
    requesters.set(request, identity.kind === 'anonymous' ? { kind: 'anonymous', name: '' } : { kind: identity.kind, name: identity.name });
  });

  app.get('/api/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // users
  app.get('/api/v1/users', { schema: { tags: ['users'], summary: 'List users' } }, async () => access.listUsers());
  app.post<{ Body: { name: string; password?: string; roles: string[] } }>(
    '/api/v1/users',
    {
      schema: {
        tags: ['users'],
        summary: 'Create a user (a generated password is returned once)',
        body: {
          type: 'object',
          properties: { name, password: { type: 'string', minLength: 8 }, roles: { type: 'array', items: { type: 'string', enum: [...roles] }, minItems: 1 } },
          required: ['name', 'roles'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => reply.code(201).send(await access.createUser(ctx(request), request.body)),
  );
  app.delete<{ Params: { name: string } }>('/api/v1/users/:name', { schema: { tags: ['users'], params: nameParams } }, async (request, reply) => {
    await access.deleteUser(ctx(request), request.params.name);
    return reply.code(204).send();
  });
  app.put<{ Params: { name: string }; Body: { roles: string[] } }>(
    '/api/v1/users/:name/roles',
    {
      schema: {
        tags: ['users'],
        summary: "Replace a user's roles",
        params: nameParams,
        body: { type: 'object', properties: { roles: { type: 'array', items: { type: 'string', enum: [...roles] }, minItems: 1 } }, required: ['roles'] },
      },
    },
    async (request) => access.setRoles(ctx(request), request.params.name, request.body.roles),
  );

  // admin user
  app.get('/api/v1/admin', { schema: { tags: ['admin'], summary: 'The admin user (never its password)' } }, async () => access.adminCredentials());
  app.post('/api/v1/admin/regenerate', { schema: { tags: ['admin'], summary: 'New admin password, shown once' } }, async (request) =>
    access.regenerateAdminPassword(ctx(request)),
  );
  app.put<{ Body: { enabled: boolean } }>(
    '/api/v1/admin/enabled',
    { schema: { tags: ['admin'], body: { type: 'object', properties: { enabled: { type: 'boolean' } }, required: ['enabled'] } } },
    async (request) => {
      await access.setAdminEnabled(ctx(request), request.body.enabled);
      return access.adminCredentials();
    },
  );

  // scope maps
  app.get('/api/v1/scope-maps', { schema: { tags: ['scope maps'] } }, async () => access.listScopeMaps());
  app.post<{ Body: { name: string; description?: string; rules: Array<{ repository: string; actions: string[] }> } }>(
    '/api/v1/scope-maps',
    {
      schema: {
        tags: ['scope maps'],
        body: {
          type: 'object',
          properties: { name, description: { type: 'string', maxLength: 256 }, rules: { type: 'array', items: rule, minItems: 1 } },
          required: ['name', 'rules'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => reply.code(201).send(await access.createScopeMap(ctx(request), request.body as never)),
  );
  app.get<{ Params: { name: string } }>('/api/v1/scope-maps/:name', { schema: { tags: ['scope maps'], params: nameParams } }, async (request) =>
    access.getScopeMap(request.params.name),
  );
  app.patch<{ Params: { name: string }; Body: { description?: string; addRules?: never[]; removeRules?: never[] } }>(
    '/api/v1/scope-maps/:name',
    {
      schema: {
        tags: ['scope maps'],
        params: nameParams,
        body: {
          type: 'object',
          properties: { description: { type: 'string', maxLength: 256 }, addRules: { type: 'array', items: rule }, removeRules: { type: 'array', items: rule } },
          additionalProperties: false,
        },
      },
    },
    async (request) => access.updateScopeMap(ctx(request), request.params.name, request.body),
  );
  app.delete<{ Params: { name: string } }>('/api/v1/scope-maps/:name', { schema: { tags: ['scope maps'], params: nameParams } }, async (request, reply) => {
    await access.deleteScopeMap(ctx(request), request.params.name);
    return reply.code(204).send();
  });

  // tokens
  app.get('/api/v1/tokens', { schema: { tags: ['tokens'] } }, async () => access.listTokens());
  app.post<{ Body: { name: string; scopeMap?: string; rules?: never[]; status?: 'enabled' | 'disabled'; expiresAt?: string | null; noPasswords?: boolean } }>(
    '/api/v1/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Create a token with a scope map or its own repository permissions (passwords returned once)',
        body: {
          type: 'object',
          properties: {
            name,
            scopeMap: { type: 'string' },
            rules: { type: 'array', items: rule },
            status: { type: 'string', enum: ['enabled', 'disabled'] },
            expiresAt: expiry,
            noPasswords: { type: 'boolean' },
          },
          required: ['name'],
          additionalProperties: false,
        },
      },
    },
    async (request, reply) => {
      const { status, ...rest } = request.body;
      return reply.code(201).send(await access.createToken(ctx(request), { ...rest, ...(status ? { enabled: status === 'enabled' } : {}) }));
    },
  );
  app.get<{ Params: { name: string } }>('/api/v1/tokens/:name', { schema: { tags: ['tokens'], params: nameParams } }, async (request) =>
    access.getToken(request.params.name),
  );
  app.patch<{ Params: { name: string }; Body: { status?: 'enabled' | 'disabled'; scopeMap?: string; expiresAt?: string | null } }>(
    '/api/v1/tokens/:name',
    {
      schema: {
        tags: ['tokens'],
        params: nameParams,
        body: {
          type: 'object',
          properties: { status: { type: 'string', enum: ['enabled', 'disabled'] }, scopeMap: { type: 'string' }, expiresAt: expiry },
          additionalProperties: false,
        },
      },
    },
    async (request) => {
      const { status, ...rest } = request.body;
      return access.updateToken(ctx(request), request.params.name, { ...rest, ...(status ? { enabled: status === 'enabled' } : {}) });
    },
  );
  app.delete<{ Params: { name: string } }>('/api/v1/tokens/:name', { schema: { tags: ['tokens'], params: nameParams } }, async (request, reply) => {
    await access.deleteToken(ctx(request), request.params.name);
    return reply.code(204).send();
  });
  app.post<{ Params: { name: string }; Body: { password: 'password1' | 'password2'; expiresAt?: string | null } }>(
    '/api/v1/tokens/:name/credentials',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Generate password1 or password2 (shown once)',
        params: nameParams,
        body: { type: 'object', properties: { password: { type: 'string', enum: ['password1', 'password2'] }, expiresAt: expiry }, required: ['password'] },
      },
    },
    async (request) => access.generateTokenPassword(ctx(request), request.params.name, request.body.password, request.body.expiresAt ?? null),
  );
  app.delete<{ Params: { name: string; password: 'password1' | 'password2' } }>(
    '/api/v1/tokens/:name/credentials/:password',
    {
      schema: {
        tags: ['tokens'],
        params: { type: 'object', properties: { name, password: { type: 'string', enum: ['password1', 'password2'] } }, required: ['name', 'password'] },
      },
    },
    async (request) => access.deleteTokenPassword(ctx(request), request.params.name, request.params.password),
  );

  webhookRoutes(app, options.webhooks, ctx);
  importRoutes(app, options.imports, requester);
  runRoutes(app, options.runs, ctx, options.bodyIdle);
  taskRoutes(app, options.tasks, ctx, options.triggers.bases);
  triggerRoutes(app, { tasks: options.tasks, ...options.triggers });
  secretRoutes(app, options.secrets);
  const mayPush = async (request: FastifyRequest, repository: string): Promise<boolean> => {
    if (!options.auth) return true;
    const identity = identities.get(request);
    return identity !== undefined && options.auth.authorizer.allows(identity, repository, 'push');
  };
  tagRoutes(app, options.manifests, mayPush);

  lifecycleRoutes(app, {
    ...options.lifecycle,
    mayDelete: async (request, repository) => {
      if (!options.auth) return true;
      const identity = identities.get(request);
      return identity !== undefined && options.auth.authorizer.allows(identity, repository, 'delete');
    },
  });
  policyRoutes(app, options.policies, ctx);

  softDeleteRoutes(app, options.softDelete, mayPush);

  // settings, keys, audit
  app.get('/api/v1/settings', { schema: { tags: ['settings'] } }, async () => access.getSettings());
  app.patch<{ Body: { anonymousPullEnabled: boolean } }>(
    '/api/v1/settings',
    { schema: { tags: ['settings'], body: { type: 'object', properties: { anonymousPullEnabled: { type: 'boolean' } }, required: ['anonymousPullEnabled'], additionalProperties: false } } },
    async (request) => access.setAnonymousPull(ctx(request), request.body.anonymousPullEnabled),
  );
  app.post('/api/v1/signing-keys/rotate', { schema: { tags: ['settings'], summary: 'Sign new tokens with a fresh key; old tokens stay valid until they expire' } }, async (request) =>
    access.rotateSigningKey(ctx(request)),
  );
  app.get<{ Querystring: { kind?: string; actor?: string; target?: string; since?: string; until?: string; top?: number } }>(
    '/api/v1/audit',
    {
      schema: {
        tags: ['audit'],
        summary: 'Logins, failed logins and permission changes, newest first',
        querystring: {
          type: 'object',
          properties: {
            kind: { type: 'string' },
            actor: { type: 'string' },
            target: { type: 'string' },
            since: { type: 'string' },
            until: { type: 'string' },
            top: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
          },
        },
      },
    },
    async (request) => {
      const { top, ...filters } = request.query;
      return options.audit.query({ ...filters, limit: top ?? 100 });
    },
  );
}
