import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RegistryError } from '../registry/errors.js';
import { parseBasic, verifyLogin, type HttpAuthComponents } from './http-auth.js';
import type { Identity } from './identity.js';
import { parseScopes } from './permissions.js';

function list(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string');
}

function loginFailed(): RegistryError {
  return new RegistryError('UNAUTHORIZED', 'invalid username or password');
}

/**
 * The Docker token endpoint. GET with optional Basic credentials (docker, skopeo, buildah) and
 * POST with `grant_type=password` or `grant_type=refresh_token` (docker login's identity token).
 * Access tokens carry only the actions the identity holds for the requested scopes.
 */
export async function tokenEndpoint(app: FastifyInstance, components: HttpAuthComponents): Promise<void> {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    const params = new URLSearchParams(body as string);
    const form: Record<string, string | string[]> = {};
    for (const key of new Set(params.keys())) {
      const values = params.getAll(key);
      form[key] = values.length === 1 ? values[0]! : values;
    }
    done(null, form);
  });

  const respond = async (request: FastifyRequest, reply: FastifyReply, identity: Identity, scopes: string[], refresh: string | null) => {
    const granted = await components.authorizer.grants(identity, parseScopes(scopes));
    const subject = identity.kind === 'anonymous' ? '' : identity.name;
    const issued = await components.tokens.issueAccess(identity.kind, subject, granted, components.realm.service());
    return reply.header('Cache-Control', 'no-store').send({
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt,
      ...(refresh ? { refresh_token: refresh } : {}),
    });
  };

  const loginSucceeded = async (request: FastifyRequest, identity: Identity, method: string) => {
    if (identity.kind !== 'anonymous') await components.audit.record({ actor: identity.name, client: request.ip }, 'login.succeeded', identity.name, { method });
  };

  app.get('/oauth2/token', async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    let identity: Identity = { kind: 'anonymous' };
    const header = request.headers.authorization;
    if (header && /^basic /i.test(header)) {
      const credentials = parseBasic(header);
      const verified = credentials && (await verifyLogin(components, request, credentials.name, credentials.password, 'token'));
      if (!verified) throw loginFailed();
      identity = verified;
      await loginSucceeded(request, identity, 'token');
    }
    const offline = query.offline_token === 'true' && identity.kind !== 'anonymous';
    const refresh = offline && identity.kind !== 'anonymous' ? await components.tokens.issueRefresh(identity.kind, identity.name, identity.stamp, components.realm.service()) : null;
    return respond(request, reply, identity, list(query.scope), refresh);
  });

  app.post('/oauth2/token', async (request, reply) => {
    const form = (request.body ?? {}) as Record<string, unknown>;
    const grant = typeof form.grant_type === 'string' ? form.grant_type : '';
    const scopes = list(form.scope);
    if (grant === 'password') {
      const username = typeof form.username === 'string' ? form.username : '';
      const password = typeof form.password === 'string' ? form.password : '';
      const identity = await verifyLogin(components, request, username, password, 'password');
      if (!identity || identity.kind === 'anonymous') throw loginFailed();
      await loginSucceeded(request, identity, 'password');
      const refresh = await components.tokens.issueRefresh(identity.kind, identity.name, identity.stamp, components.realm.service());
      return respond(request, reply, identity, scopes, refresh);
    }
    if (grant === 'refresh_token') {
      const token = typeof form.refresh_token === 'string' ? form.refresh_token : '';
      let identity: Identity | null = null;
      try {
        const claims = await components.tokens.verify(token, components.realm.service());
        if (claims.typ === 'refresh' && claims.kind !== 'anonymous' && claims.sub) {
          identity = await components.identities.currentIdentity(claims.kind, claims.sub, claims.stamp);
        }
      } catch {
        identity = null;
      }
      if (!identity) throw new RegistryError('UNAUTHORIZED', 'invalid or expired refresh token');
      return respond(request, reply, identity, scopes, token);
    }
    throw new RegistryError('UNSUPPORTED', `unsupported grant_type "${grant}"`, undefined, { status: 400 });
  });
}
