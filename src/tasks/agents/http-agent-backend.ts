import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { RegistryLogin } from '../task-runner.js';
import type { AgentBackend, ClaimedRun, RunOutcome, RunProgress } from './agent-backend.js';

/** An agent API answer that is not a success, with the server's error envelope message. */
export class AgentApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The agent seam over HTTP: a remote agent (`berth agent --server URL`) talking to the server. */
export class HttpAgentBackend implements AgentBackend {
  private readonly base: URL;

  constructor(
    serverUrl: string,
    private readonly agentKey: string,
  ) {
    this.base = new URL(serverUrl.endsWith('/') ? serverUrl : `${serverUrl}/`);
  }

  /** The server as this machine reaches it is also the registry its runs push to. */
  registry(): { host: string; scheme: 'http' | 'https' } {
    return { host: this.base.host, scheme: this.base.protocol === 'https:' ? 'https' : 'http' };
  }

  /** Fails with the server's reason when it cannot be reached or refuses the key. */
  async ping(agent: string): Promise<void> {
    await this.call('GET', `${enc(agent)}/ping`);
  }

  async started(agent: string): Promise<string[]> {
    return ((await (await this.call('POST', `${enc(agent)}/started`)).json()) as { abandoned: string[] }).abandoned;
  }

  async claim(agent: string, platforms: string[]): Promise<ClaimedRun | null> {
    const response = await this.call('POST', `${enc(agent)}/claim`, { platforms });
    return response.status === 204 ? null : ((await response.json()) as ClaimedRun);
  }

  async heartbeat(runId: string, agent: string): Promise<{ held: boolean; cancelRequested: boolean }> {
    return (await (await this.call('POST', `${this.run(agent, runId)}/heartbeat`)).json()) as { held: boolean; cancelRequested: boolean };
  }

  async progress(runId: string, agent: string, patch: RunProgress): Promise<void> {
    await this.call('PATCH', this.run(agent, runId), patch);
  }

  async appendLog(runId: string, agent: string, text: string): Promise<void> {
    await this.call('POST', `${this.run(agent, runId)}/log`, text);
  }

  async openContext(runId: string, agent: string): Promise<Readable> {
    const response = await this.call('GET', `${this.run(agent, runId)}/context`);
    return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  }

  async issueLogin(runId: string, agent: string, pushRepositories: string[], purgeRepositories: string[] = []): Promise<{ username: string; password: string } | null> {
    const body = (await (await this.call('POST', `${this.run(agent, runId)}/login`, { pushRepositories, purgeRepositories })).json()) as { login: { username: string; password: string } | null };
    return body.login;
  }

  async secret(runId: string, agent: string, name: string): Promise<string> {
    return ((await (await this.call('GET', `${this.run(agent, runId)}/secrets/${enc(name)}`)).json()) as { value: string }).value;
  }

  async taskLogins(runId: string, agent: string): Promise<RegistryLogin[]> {
    return ((await (await this.call('GET', `${this.run(agent, runId)}/task-logins`)).json()) as { logins: RegistryLogin[] }).logins;
  }

  async finish(runId: string, agent: string, outcome: RunOutcome): Promise<void> {
    // The end of a run must not be lost to a passing network error: a few tries, then give up
    // (the lease then runs out and the server marks the run Error).
    for (let attempt = 1; ; attempt++) {
      try {
        await this.call('POST', `${this.run(agent, runId)}/finish`, outcome);
        return;
      } catch (error) {
        if (attempt >= 5 || (error instanceof AgentApiError && error.status < 500)) throw error;
        await new Promise((r) => setTimeout(r, attempt * 1000));
      }
    }
  }

  private run(agent: string, runId: string): string {
    return `${enc(agent)}/runs/${enc(runId)}`;
  }

  private async call(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { Authorization: `Bearer ${this.agentKey}` };
    let payload: string | undefined;
    if (typeof body === 'string') {
      headers['Content-Type'] = 'text/plain; charset=utf-8';
      payload = body;
    } else if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body);
    }
    const response = await fetch(new URL(`api/v1/agent/${path}`, this.base), { method, headers, body: payload });
    if (!response.ok) {
      const text = await response.text();
      let message = text;
      try {
        message = (JSON.parse(text) as { errors?: Array<{ message: string }> }).errors?.[0]?.message ?? text;
      } catch {
        // not the error envelope: keep the text
      }
      throw new AgentApiError(response.status, `${method} ${path}: ${response.status} ${message}`);
    }
    return response;
  }
}

const enc = encodeURIComponent;
