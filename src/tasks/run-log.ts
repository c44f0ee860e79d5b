import type { RunStore } from './run-store.js';

/**
 * A run's log: secrets masked, written in batches, readable while the run goes on. Output arrives
 * in arbitrary chunks, so a secret may be split across two of them: the tail that could still be
 * the start of a secret is held back until more text (or the end) shows what it is.
 */
export class RunLog {
  private raw = '';
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();
  private readonly secrets: string[];
  readonly sink = (text: string): void => this.write(text);

  constructor(
    private readonly store: Pick<RunStore, 'appendLog'>,
    private readonly runId: string,
    secrets: string[],
    private readonly flushDelayMs = 200,
  ) {
    this.secrets = secrets.filter(Boolean);
  }

  /** Masks a value learnt during the run (a stored secret, a credential). */
  mask(value: string): void {
    if (value) this.secrets.push(value);
  }

  write(text: string): void {
    this.raw += text;
    this.timer ??= setTimeout(() => this.flush(false), this.flushDelayMs);
  }

  async close(): Promise<void> {
    this.flush(true);
    await this.flushing;
  }

  private flush(final: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const cut = final ? this.raw.length : this.safeCut();
    const text = this.maskAll(this.raw.slice(0, cut));
    this.raw = this.raw.slice(cut);
    if (this.raw && !final) this.timer = setTimeout(() => this.flush(false), this.flushDelayMs);
    if (!text) return;
    this.flushing = this.flushing.then(() => this.store.appendLog(this.runId, text)).catch(() => undefined);
  }

  /** Where to cut so that no secret straddles the cut and no held-back tail could begin one. */
  private safeCut(): number {
    let cut = this.raw.length;
    for (const secret of this.secrets) {
      // A tail that is a prefix of the secret may continue in the next chunk.
      for (let length = Math.min(secret.length - 1, this.raw.length); length > 0; length--) {
        if (this.raw.endsWith(secret.slice(0, length))) {
          cut = Math.min(cut, this.raw.length - length);
          break;
        }
      }
    }
    return cut;
  }

  private maskAll(text: string): string {
    let masked = text;
    for (const secret of [...this.secrets].sort((a, b) => b.length - a.length)) masked = masked.split(secret).join('***');
    return masked;
  }
}
