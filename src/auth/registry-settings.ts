import type { AuthStore } from './auth-store.js';

const anonymousPullKey = 'anonymousPullEnabled';
const refreshMs = 5_000;

/**
 * Registry-wide switches kept in the AuthStore. Reads are cached briefly because every
 * anonymous request consults them; a write here is visible at once, on other instances within
 * a few seconds.
 */
export class RegistrySettings {
  private anonymousPull = false;
  private loadedAt = 0;

  constructor(private readonly store: AuthStore) {}

  async anonymousPullEnabled(): Promise<boolean> {
    if (Date.now() - this.loadedAt > refreshMs) {
      this.anonymousPull = (await this.store.getSetting<boolean>(anonymousPullKey)) ?? false;
      this.loadedAt = Date.now();
    }
    return this.anonymousPull;
  }

  async setAnonymousPull(enabled: boolean): Promise<void> {
    await this.store.putSetting(anonymousPullKey, enabled);
    this.anonymousPull = enabled;
    this.loadedAt = Date.now();
  }
}
