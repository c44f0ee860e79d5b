import type { FastifyInstance, FastifyRequest } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import type { AccessNeed, RegistryAccess } from '../registry-api/access.js';
import type { RegistryRoute } from '../registry-api/routes.js';
import type { AuditLog } from '../audit/audit-log.js';
import { currentRequestContext } from '../events/request-context.js';
import { accessGrants, type Authorizer } from './authorizer.js';
import { describeIdentity, identityKey, type Identity, type RequestAuth } from './identity.js';
import type { IdentityService } from './identity-service.js';
import type { DockerAction } from './permissions.js';
import type { LoginThrottle, RequestRateLimits } from './rate-limits.js';
import type { TokenRealm } from './token-realm.js';
import type { TokenService } from './token-service.js';

declare module 'fastify' {
  interface FastifyRequest {
    auth: RequestAuth | null;
  }
}

export interface HttpAuthComponents {
  identities: IdentityService;
  authorizer: Authorizer;
  tokens: TokenService;
  limiter: RequestRateLimits;
  realm: TokenRealm;
  throttle: LoginThrottle;
  audit: AuditLog;
}

/** Paths that authenticate on their own terms (or need none). */
const unauthenticated = new Set(['/healthz', '/readyz', '/metrics', '/oauth2/token', '/api/v1/openapi.json']);

/** Remote agents present the agent key, not a registry identity (see agent-api). */
const agentApiPrefix = '/api/v1/agent/';

/** `WWW-Authenticate: Bearer realm=…,service=…[,scope=…][,error=…]` for the Docker token flow. */
export function bearerChallenge(realm: TokenRealm, request: FastifyRequest, scope?: string, error?: string): string {
  let value = `Bearer realm="${realm.realm(request)}",service="${realm.service()}"`;
  if (scope) value += `,scope="${scope}"`;
  if (error) value += `,error="${error}"`;
  return value;
}

export function unauthorized(
  realm: TokenRealm,
  request: FastifyRequest,
  message: string,
  scope?: { type: string; name: string; actions: string[] },
  error?: string,
): RegistryError {
  const scopeText = scope ? `${scope.type}:${scope.name}:${scope.actions.join(',')}` : undefined;
  return new RegistryError(
    'UNAUTHORIZED',
    message,
    scope ? scope.actions.map((a) => ({ Type: scope.type, Name: scope.name, Action: a })) : undefined,
    { headers: { 'WWW-Authenticate': bearerChallenge(realm, request, scopeText, error) } },
  );
}

export function parseBasic(header: string): { name: string; password: string } | null {
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : { name: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Checks a name and password with failed-login throttling and auditing. */
export async function verifyLogin(
  components: HttpAuthComponents,
  request: FastifyRequest,
  name: string,
  password: string,
  method: string,
): Promise<Identity | null> {
  const wait = components.throttle.retryAfter(request.ip);
  if (wait > 0) {
    throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins; try again later', undefined, { headers: { 'Retry-After': String(wait) } });
  }
  const identity = await components.identities.verifyPassword(name, password);
  if (!identity) {
    components.throttle.recordFailure(request.ip);
    await components.audit.record({ actor: name, client: request.ip }, 'login.failed', name, { method });
    return null;
  }
  components.throttle.recordSuccess(request.ip);
  return identity;
}

/**
 * Resolves every request's credentials (Basic or a Bearer access token) into `request.auth`,
 * then applies the per-identity rate limit. Bad credentials are refused here; permissions are
 * decided by whoever handles the request.
 */
export function registerAuthentication(app: FastifyInstance, components: HttpAuthComponents): void {
  app.decorateRequest('auth', null);
  app.addHook('onRequest', async (request) => {
    const path = request.url.split('?', 1)[0]!;
    if (unauthenticated.has(path) || path.startsWith(agentApiPrefix)) return;
    request.auth = await identify(components, request);
    const context = currentRequestContext();
    if (context) context.actor = describeIdentity(request.auth.identity);
    const caller = request.auth.anonymous
      ? { anonymous: true as const, address: request.ip }
      : { anonymous: false as const, identity: identityKey(request.auth.identity) };
    const wait = components.limiter.take(caller, request.method);
    if (wait > 0) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many requests', undefined, { headers: { 'Retry-After': String(wait) } });
    }
  });
}

async function identify(components: HttpAuthComponents, request: FastifyRequest): Promise<RequestAuth> {
  const header = request.headers.authorization;
  if (!header) return { identity: { kind: 'anonymous' }, access: null, anonymous: true };
  if (/^basic /i.test(header)) {
    const credentials = parseBasic(header);
    const identity = credentials && (await verifyLogin(components, request, credentials.name, credentials.password, 'basic'));
    if (!identity) throw unauthorized(components.realm, request, 'invalid username or password');
    return { identity, access: null, anonymous: false };
  }
  if (/^bearer /i.test(header)) {
    try {
      const claims = await components.tokens.verify(header.slice(7).trim(), components.realm.service());
      if (claims.typ !== 'access') throw new Error('not an access token');
      const identity: Identity = claims.kind === 'anonymous' ? { kind: 'anonymous' } : subjectOnly(claims.kind, claims.sub ?? '');
      return { identity, access: claims.access ?? [], anonymous: false };
    } catch {
      throw unauthorized(components.realm, request, 'invalid or expired token', undefined, 'invalid_token');
    }
  }
  throw unauthorized(components.realm, request, 'unsupported authorization scheme');
}

/** A Bearer token names its subject but not its current rights; those are loaded when needed. */
function subjectOnly(kind: 'user' | 'token', name: string): Identity {
  return kind === 'user' ? { kind, name, roles: [], stamp: '' } : { kind, name, rules: [], stamp: '' };
}

/** The identity as it stands now (Bearer tokens carry only the subject). */
export async function liveIdentity(components: HttpAuthComponents, auth: RequestAuth): Promise<Identity | null> {
  if (auth.identity.kind === 'anonymous') return auth.identity;
  if (auth.access === null) return auth.identity;
  return components.identities.currentIdentity(auth.identity.kind, auth.identity.name);
}

type Requirement = AccessNeed & ({ kind: 'login' } | { kind: 'catalog' } | { kind: 'repository'; name: string; action: DockerAction });

function requirementOf(route: RegistryRoute, method: string): Requirement {
  switch (route.kind) {
    case 'base':
      return { kind: 'login' };
    case 'catalog':
      return { kind: 'catalog' };
    case 'manifest':
      if (method === 'PUT') return { kind: 'repository', name: route.name, action: 'push' };
      if (method === 'DELETE') return { kind: 'repository', name: route.name, action: 'delete' };
      return { kind: 'repository', name: route.name, action: 'pull' };
    case 'blob':
      return { kind: 'repository', name: route.name, action: method === 'DELETE' ? 'delete' : 'pull' };
    case 'uploads':
    case 'upload':
      return { kind: 'repository', name: route.name, action: 'push' };
    case 'tags':
    case 'referrers':
      return { kind: 'repository', name: route.name, action: 'pull' };
  }
}

/**
 * Enforces ACR's permissions on the Distribution API. Unauthenticated callers get 401 with a
 * Bearer challenge naming the scope they need; authenticated callers without the right get 403
 * DENIED, except a Bearer token that merely lacks a scope its owner does hold: that is a 401
 * (insufficient_scope) so the client fetches a token for it.
 */
export class AuthRegistryAccess implements RegistryAccess {
  constructor(private readonly components: HttpAuthComponents) {}

  async authorize(request: FastifyRequest, route: RegistryRoute): Promise<void> {
    return this.authorizeNeed(request, requirementOf(route, request.method));
  }

  async authorizeNeed(request: FastifyRequest, need: Requirement): Promise<void> {
    const auth = request.auth!;
    if (need.kind === 'login') {
      if (auth.anonymous) throw unauthorized(this.components.realm, request, 'authentication required');
      return;
    }
    const scope =
      need.kind === 'catalog'
        ? { type: 'registry', name: 'catalog', actions: ['*'] }
        : { type: 'repository', name: need.name, actions: need.action === 'push' ? ['pull', 'push'] : [need.action] };
    if (await this.holds(auth, need)) return;
    if (auth.anonymous) throw unauthorized(this.components.realm, request, 'authentication required', scope);
    if (auth.access !== null) {
      const live = await liveIdentity(this.components, auth);
      if (live && (await this.holds({ ...auth, identity: live, access: null }, need))) {
        throw unauthorized(this.components.realm, request, 'token lacks the required scope', scope, 'insufficient_scope');
      }
    }
    throw new RegistryError('DENIED', `requested access to the resource is denied for ${describeIdentity(auth.identity)}`, scope);
  }

  async canPull(request: FastifyRequest, repository: string): Promise<boolean> {
    return this.holds(request.auth!, { kind: 'repository', name: repository, action: 'pull' });
  }

  private async holds(auth: RequestAuth, need: Requirement): Promise<boolean> {
    if (need.kind === 'login') return !auth.anonymous;
    if (auth.access !== null) {
      return need.kind === 'catalog'
        ? accessGrants(auth.access, 'registry', 'catalog', '*')
        : accessGrants(auth.access, 'repository', need.name, need.action);
    }
    if (need.kind === 'catalog') return this.components.authorizer.allowsCatalog(auth.identity);
    return this.components.authorizer.allows(auth.identity, need.name, need.action);
  }
}
