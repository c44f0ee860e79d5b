import type { FastifyRequest } from 'fastify';
import type { RegistryRoute } from './routes.js';

/** What a request needs: to be signed in, to list the catalog, or an action on a repository. */
export type AccessNeed = { kind: 'login' } | { kind: 'catalog' } | { kind: 'repository'; name: string; action: 'pull' | 'push' | 'delete' };

/**
 * The registry API's only view of access control: may this request do this, and may it read
 * another repository (for cross-repository mounts). Throws RegistryError (401/403) to deny.
 */
export interface RegistryAccess {
  authorize(request: FastifyRequest, route: RegistryRoute): Promise<void>;
  /** The same decision for a need stated directly (the ACR data API's routes). */
  authorizeNeed(request: FastifyRequest, need: AccessNeed): Promise<void>;
  canPull(request: FastifyRequest, repository: string): Promise<boolean>;
}

/** `--auth none`: everything is allowed. */
export const openAccess: RegistryAccess = {
  authorize: async () => undefined,
  authorizeNeed: async () => undefined,
  canPull: async () => true,
};
