import type { AccessEntry, Identity } from './identity.js';
import type { IdentityService } from './identity-service.js';
import type { RegistrySettings } from './registry-settings.js';
import { dockerActionsFor, type DockerAction, type RequestedScope } from './permissions.js';
import { isRepositoryName } from '../registry/reference.js';

const allDockerActions: DockerAction[] = ['pull', 'push', 'delete'];

/** Decides what an identity may do, and which Docker token grants it may receive. */
export class Authorizer {
  constructor(
    private readonly identities: IdentityService,
    private readonly settings: RegistrySettings,
  ) {}

  async dockerActions(identity: Identity, repository: string): Promise<Set<DockerAction>> {
    const actions = new Set(dockerActionsFor(await this.identities.repositoryActions(identity, repository)));
    // Anonymous pull is registry-wide and, as in ACR, widens even a restricted token's pull.
    if (await this.settings.anonymousPullEnabled()) actions.add('pull');
    return actions;
  }

  async allows(identity: Identity, repository: string, action: DockerAction): Promise<boolean> {
    return (await this.dockerActions(identity, repository)).has(action);
  }

  allowsCatalog(identity: Identity): boolean {
    return this.identities.canListCatalog(identity);
  }

  /** The subset of requested scopes the identity holds: what goes into its access token. */
  async grants(identity: Identity, scopes: RequestedScope[]): Promise<AccessEntry[]> {
    const entries: AccessEntry[] = [];
    for (const scope of scopes) {
      if (scope.type === 'registry') {
        if (scope.name === 'catalog' && this.allowsCatalog(identity)) entries.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (!isRepositoryName(scope.name)) continue;
      const requested = scope.actions.includes('*') ? allDockerActions : scope.actions;
      const held = await this.dockerActions(identity, scope.name);
      const granted = requested.filter((a): a is DockerAction => held.has(a as DockerAction));
      if (granted.length > 0) entries.push({ type: 'repository', name: scope.name, actions: [...new Set(granted)] });
    }
    return entries;
  }
}

export function accessGrants(access: AccessEntry[], type: 'repository' | 'registry', name: string, action: string): boolean {
  return access.some((e) => e.type === type && e.name === name && (e.actions.includes(action) || e.actions.includes('*')));
}
