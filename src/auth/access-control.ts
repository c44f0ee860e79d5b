import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Settings } from '../config/settings.js';
import { AuditLog } from '../audit/audit-log.js';
import { openAccess, type RegistryAccess } from '../registry-api/access.js';
import { AccessManagement, bootstrapAccess } from './access-management.js';
import type { AuthStore } from './auth-store.js';
import { Authorizer } from './authorizer.js';
import { AuthRegistryAccess, registerAuthentication, type HttpAuthComponents } from './http-auth.js';
import { IdentityService } from './identity-service.js';
import { LoginThrottle, RequestRateLimits } from './rate-limits.js';
import { TokenRealm } from './token-realm.js';
import { RegistrySettings } from './registry-settings.js';
import { tokenEndpoint } from './token-endpoint.js';
import { TokenService } from './token-service.js';

export interface AccessControl {
  registryAccess: RegistryAccess;
  management: AccessManagement;
  audit: AuditLog;
  /** Null with `--auth none`. */
  http: HttpAuthComponents | null;
}

/**
 * Builds access control and hooks it into the HTTP app: first-start bootstrap (admin user,
 * system scope maps, signing key), request authentication and rate limits, the token endpoint.
 * With `auth: none` everything is open and only the management services are built.
 */
export async function setUpAccessControl(app: FastifyInstance, store: AuthStore, settings: Settings): Promise<AccessControl> {
  const { generatedAdminPassword } = await bootstrapAccess(store, settings.adminPassword);
  if (generatedAdminPassword) {
    const file = join(settings.dataDir, 'initial-admin-password');
    writeFileSync(file, `${generatedAdminPassword}\n`, { mode: 0o600 });
    process.stderr.write(
      `berth: created user "admin" with a generated password (shown once, also in ${file}):\n\n    ${generatedAdminPassword}\n\n`,
    );
  }
  const identities = new IdentityService(store);
  const registrySettings = new RegistrySettings(store);
  const tokens = new TokenService(store, settings.tokenLifetimes);
  await tokens.init();
  const audit = new AuditLog(store, 50, (error, retained) => app.log.error({ err: error, retained }, 'audit records not stored yet; retrying'));
  const management = new AccessManagement(store, identities, tokens, registrySettings, audit);
  if (settings.auth === 'none') {
    process.stderr.write('berth: WARNING: --auth none: anyone who can reach this port can read, write and delete everything.\n');
    return { registryAccess: openAccess, management, audit, http: null };
  }
  const http: HttpAuthComponents = {
    identities,
    authorizer: new Authorizer(identities, registrySettings),
    tokens,
    limiter: new RequestRateLimits(settings.rateLimit),
    realm: new TokenRealm({
      publicUrl: settings.publicUrl,
      listenHost: settings.host,
      tls: settings.tls !== null,
      boundPort: boundPortOf(app, settings.port),
    }),
    throttle: new LoginThrottle(settings.loginThrottle.maxFailures, settings.loginThrottle.windowSeconds),
    audit,
  };
  registerAuthentication(app, http);
  await app.register(tokenEndpoint, http);
  return { registryAccess: new AuthRegistryAccess(http), management, audit, http };
}

/**
 * The port the server is bound to, asked of the socket once it is listening and kept: every
 * authenticated request names it (the token audience), and each ask is a getsockname syscall.
 */
function boundPortOf(app: FastifyInstance, configured: number): () => number {
  let bound: number | null = null;
  return () => {
    if (bound !== null) return bound;
    const address = app.server.address();
    if (typeof address === 'object' && address) return (bound = address.port);
    return configured;
  };
}
