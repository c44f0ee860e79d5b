import { randomBytes } from 'node:crypto';

/** A task's push-webhook secret: 32 random bytes, URL-safe so it pastes into any git host's form. */
export function generateWebhookSecret(): string {
  return randomBytes(32).toString('base64url');
}
