import type { FastifyRequest } from 'fastify';
import type { RegistryRoute } from './routes.js';

/**
 * The registry API's only view of access control: may this request do this, and may it read
 * another repository (for cross-repository mounts). Throws RegistryError (401/403) to deny.
 */
export interface RegistryAccess {
  authorize(request: FastifyRequest, route: RegistryRoute): Promise<void>;
  canPull(request: FastifyRequest, repository: string): Promise<boolean>;
}

/** `--auth none`: everything is allowed. */
export const openAccess: RegistryAccess = {
  authorize: async () => undefined,
  canPull: async () => true,
};
