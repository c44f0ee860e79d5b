/**
 * Waiting in tests. A busy machine makes everything slower, so a test never sleeps a fixed time
 * in the hope that something has happened by then: it waits for the thing itself, with a deadline,
 * and fails naming what it waited for. A fixed wait is allowed only where time passing is the
 * point (nothing may happen within a window, a client gives up after a while); `pause` says so.
 */
import { setTimeout as delay } from 'node:timers/promises';

export interface WaitOptions {
  /** What is awaited, for the failure message ("3 webhook events", "the run to start"). */
  what: string;
  /** Deadline; generous by default because the suite must hold on a loaded machine. */
  timeoutMs?: number;
  /** Time between checks. */
  intervalMs?: number;
  /** Extra detail for the failure message, computed when the deadline passes (the last state seen, a log). */
  detail?: () => string | Promise<string>;
}

export const defaultWaitMs = 60_000;

/**
 * Checks `condition` until it returns a truthy value (returned) or the deadline passes (throws
 * "timed out after N ms waiting for WHAT", with the last error the condition threw, if any).
 * A condition that throws counts as not yet met.
 */
export async function waitFor<T>(condition: () => T | Promise<T>, options: WaitOptions): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? defaultWaitMs;
  const intervalMs = options.intervalMs ?? 100;
  const started = Date.now();
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
      lastError = null;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() - started >= timeoutMs) {
      let message = `timed out after ${timeoutMs} ms waiting for ${options.what}`;
      if (lastError) message += `; last check failed: ${lastError instanceof Error ? lastError.message : String(lastError)}`;
      if (options.detail) {
        try {
          message += `\n${await options.detail()}`;
        } catch {
          // the detail is a courtesy
        }
      }
      throw new Error(message);
    }
    // A ref'd timer: while a test waits, the event loop stays alive even if every child process
    // it watches is unref'd.
    await delay(intervalMs);
  }
}

/**
 * A deliberate fixed wait, for when time passing is what the test is about (e.g. "no second
 * event arrives within 500 ms"). `reason` documents which; it is not used otherwise.
 */
export async function pause(ms: number, reason: string): Promise<void> {
  void reason;
  await delay(ms);
}

/**
 * `work` with a deadline held by a ref'd timer. Besides failing a stuck step by name, the timer
 * keeps the event loop alive: a request lost without a handle (a pooled socket unref'd under it)
 * then fails here, clearly, instead of ending the file with "Promise resolution is still pending".
 */
export async function withDeadline<T>(work: Promise<T>, options: { what: string; timeoutMs: number }): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${options.timeoutMs} ms waiting for ${options.what}`)), options.timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
