import { AsyncLocalStorage } from 'node:async_hooks';

/** What is known about the HTTP request a registry change happened in (ACR's `request` object). */
export interface RequestContext {
  id: string;
  host: string;
  method: string;
  userAgent: string;
  address: string;
  actor: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** Runs `work` with `context` visible to everything it calls, however deep (events, audit). */
export function runWithRequestContext<T>(context: RequestContext, work: () => T): T {
  return storage.run(context, work);
}

export function currentRequestContext(): RequestContext | null {
  return storage.getStore() ?? null;
}
