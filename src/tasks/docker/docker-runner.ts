import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import type { BuildRequest, ContainerRequest, LogSink, RegistryLogin, RunEnvironment, TaskRunner } from '../task-runner.js';

const runLabel = 'berth.run';

class StepFailed extends Error {}

function authFor(reference: string, logins: RegistryLogin[]): Docker.AuthConfig | undefined {
  const login = logins.find((l) => reference.startsWith(`${l.server}/`));
  return login ? { username: login.username, password: login.password, serveraddress: login.server } : undefined;
}

/** Follows an engine progress stream, logging lines; rejects on an error message in it. */
function follow(docker: Docker, stream: NodeJS.ReadableStream, log: LogSink, signal: AbortSignal, onEvent?: (event: Record<string, any>) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const abort = () => {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    if (signal.aborted) return abort();
    signal.addEventListener('abort', abort, { once: true });
    docker.modem.followProgress(
      stream,
      (error: Error | null) => {
        signal.removeEventListener('abort', abort);
        if (error) reject(error);
        else resolve();
      },
      (event: Record<string, any>) => {
        if (event.error) {
          log(`${event.error}\n`);
          signal.removeEventListener('abort', abort);
          reject(new StepFailed(String(event.error)));
          return;
        }
        if (typeof event.stream === 'string') log(event.stream);
        else if (event.status) log(`${event.id ? `${event.id}: ` : ''}${event.status}${event.progress ? ` ${event.progress}` : ''}\n`);
        onEvent?.(event);
      },
    );
  });
}

/** TaskRunner on a Docker engine, through its API (dockerode). */
export class DockerTaskRunner implements TaskRunner {
  constructor(private readonly docker: Docker = new Docker()) {}

  async prepare(runId: string): Promise<RunEnvironment> {
    const name = `berth-run-${runId}-${Date.now().toString(36)}`;
    const labels = { [runLabel]: runId };
    await this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels });
    await this.docker.createVolume({ Name: name, Labels: labels });
    return { runId, network: name, volume: name };
  }

  async build(env: RunEnvironment, request: BuildRequest, log: LogSink, signal: AbortSignal): Promise<void> {
    const registryconfig = Object.fromEntries(request.logins.map((l) => [l.server, { username: l.username, password: l.password }]));
    const stream = await this.docker.buildImage(request.context as unknown as NodeJS.ReadableStream, {
      t: request.tags[0],
      dockerfile: request.dockerfile,
      buildargs: request.buildArgs,
      ...(request.target ? { target: request.target } : {}),
      networkmode: env.network,
      registryconfig,
      forcerm: true,
      abortSignal: signal,
    } as Docker.ImageBuildOptions);
    await follow(this.docker, stream, log, signal);
    for (const tag of request.tags.slice(1)) {
      const [repo, version] = splitReference(tag);
      await this.docker.getImage(request.tags[0]!).tag({ repo, tag: version });
    }
  }

  async push(_env: RunEnvironment, reference: string, login: RegistryLogin | null, log: LogSink, signal: AbortSignal): Promise<string> {
    const authconfig = login ? authFor(reference, [login]) : undefined;
    const stream = (await this.docker.getImage(reference).push({ ...(authconfig ? { authconfig } : {}), abortSignal: signal } as never)) as unknown as NodeJS.ReadableStream;
    let digest = '';
    await follow(this.docker, stream, log, signal, (event) => {
      if (event.aux?.Digest) digest = String(event.aux.Digest);
    });
    if (!digest) throw new StepFailed(`push of ${reference} reported no digest`);
    return digest;
  }

  async run(env: RunEnvironment, request: ContainerRequest, log: LogSink, signal: AbortSignal): Promise<number> {
    await this.ensureImage(request.image, request.logins, log, signal);
    const container = await this.docker.createContainer({
      Image: request.image,
      Cmd: request.args.length > 0 ? request.args : undefined,
      Env: request.env,
      WorkingDir: '/workspace',
      Labels: { [runLabel]: env.runId },
      HostConfig: { NetworkMode: env.network, Binds: [`${env.volume}:/workspace`] },
    });
    if (request.context) await container.putArchive(request.context as unknown as NodeJS.ReadableStream, { path: '/workspace' });
    const output = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => log(chunk.toString('utf8')));
    container.modem.demuxStream(output, sink, sink);
    const kill = () => void container.kill().catch(() => undefined);
    signal.addEventListener('abort', kill, { once: true });
    try {
      await container.start();
      const result = (await container.wait()) as { StatusCode: number };
      await new Promise((r) => setTimeout(r, 50)); // let the last output drain
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      return result.StatusCode;
    } finally {
      signal.removeEventListener('abort', kill);
      await container.remove({ force: true }).catch(() => undefined);
    }
  }

  async cleanup(env: RunEnvironment, temporaryImages: string[]): Promise<void> {
    const filters = JSON.stringify({ label: [`${runLabel}=${env.runId}`] });
    for (const info of await this.docker.listContainers({ all: true, filters })) {
      await this.docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
    await this.docker.getNetwork(env.network).remove().catch(() => undefined);
    await this.docker.getVolume(env.volume).remove().catch(() => undefined);
    for (const image of temporaryImages) await this.docker.getImage(image).remove({ force: true }).catch(() => undefined);
  }

  private async ensureImage(image: string, logins: RegistryLogin[], log: LogSink, signal: AbortSignal): Promise<void> {
    try {
      await this.docker.getImage(image).inspect();
      return;
    } catch {
      // not present locally: pull it
    }
    const authconfig = authFor(image, logins);
    const stream = (await this.docker.pull(image, { ...(authconfig ? { authconfig } : {}), abortSignal: signal } as never)) as unknown as NodeJS.ReadableStream;
    await follow(this.docker, stream, log, signal);
  }
}

export function splitReference(reference: string): [string, string] {
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  return colon > slash ? [reference.slice(0, colon), reference.slice(colon + 1)] : [reference, 'latest'];
}

export { StepFailed };
