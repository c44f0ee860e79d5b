import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import Docker from 'dockerode';
import { create as createTar } from 'tar';
import { EngineProxy } from './engine-proxy.js';
import { normalizePlatform } from '../platform.js';
import { normalizeImageReference } from '../../triggers/image-reference.js';
import type { BuildRequest, ContainerRequest, LogSink, RegistryLogin, RunEnvironment, TaskRunner } from '../task-runner.js';

const runLabel = 'berth.run';
const agentLabel = 'berth.agent';

function labels(env: Pick<RunEnvironment, 'runId' | 'agent'>): Record<string, string> {
  return { [runLabel]: env.runId, [agentLabel]: env.agent };
}

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
  /** Each run's engine proxy (made when a step first needs the engine: the docker built-in). */
  private readonly proxies = new Map<string, Promise<EngineProxy>>();

  constructor(private readonly docker: Docker = new Docker()) {}

  private engineProxy(env: RunEnvironment): Promise<EngineProxy> {
    const key = `${env.agent}/${env.runId}`;
    let proxy = this.proxies.get(key);
    if (!proxy) {
      const exists = (reference: string) => this.docker.getImage(reference).inspect().then(() => true, () => false);
      const made = new EngineProxy(socketPath, labels(env), exists);
      proxy = made.start().then(() => made);
      this.proxies.set(key, proxy);
    }
    return proxy;
  }

  async prepare(runId: string, agent: string): Promise<RunEnvironment> {
    const name = `berth-run-${runId}-${Date.now().toString(36)}`;
    await this.docker.createNetwork({ Name: name, Driver: 'bridge', Labels: labels({ runId, agent }) });
    await this.docker.createVolume({ Name: name, Labels: labels({ runId, agent }) });
    return { runId, agent, network: name, volume: name };
  }

  async build(env: RunEnvironment, request: BuildRequest, log: LogSink, signal: AbortSignal): Promise<void> {
    const registryconfig = Object.fromEntries(request.logins.map((l) => [l.server, { username: l.username, password: l.password }]));
    const stream = await this.docker.buildImage(request.context as unknown as NodeJS.ReadableStream, {
      t: request.tags[0],
      dockerfile: request.dockerfile,
      buildargs: request.buildArgs,
      ...(request.target ? { target: request.target } : {}),
      ...(request.platform ? { platform: request.platform } : {}),
      ...(request.noCache ? { nocache: true } : {}),
      ...(request.pull ? { pull: 'true' } : {}),
      ...(request.labels ? { labels: request.labels } : {}),
      networkmode: request.network ?? env.network,
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

  async pullImage(_env: RunEnvironment, reference: string, logins: RegistryLogin[], log: LogSink, signal: AbortSignal, platform?: string): Promise<void> {
    const authconfig = authFor(reference, logins);
    const stream = (await this.docker.pull(reference, { ...(authconfig ? { authconfig } : {}), ...(platform ? { platform } : {}), abortSignal: signal } as never)) as unknown as NodeJS.ReadableStream;
    await follow(this.docker, stream, log, signal);
  }

  hasImage(reference: string): Promise<boolean> {
    return this.docker.getImage(reference).inspect().then(() => true, () => false);
  }

  async imageDigest(reference: string): Promise<string | null> {
    const info = await this.docker.getImage(reference).inspect().catch(() => null);
    if (!info) return null;
    const wanted = repositoryOf(reference);
    // RepoDigests spell Docker Hub names short (`alpine@sha256:…`): compare them normalised.
    for (const entry of info.RepoDigests ?? []) {
      const at = entry.lastIndexOf('@');
      if (at > 0 && repositoryOf(entry.slice(0, at)) === wanted) return entry.slice(at + 1);
    }
    return null;
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

  async createNetwork(env: RunEnvironment, name: string, driver: string): Promise<string> {
    const engineName = `${env.network}-${name}`;
    await this.docker.createNetwork({ Name: engineName, Driver: driver, Labels: labels(env) });
    return engineName;
  }

  async createVolume(env: RunEnvironment, name: string, files: Record<string, string>): Promise<string> {
    const engineName = `${env.network}-${name}`;
    await this.docker.createVolume({ Name: engineName, Labels: labels(env) });
    const dir = mkdtempSync(join(tmpdir(), 'berth-volume-'));
    try {
      for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content, { mode: 0o600 });
      const helper = await this.docker.createContainer({ Image: await this.builtinImage('docker'), Labels: labels(env), HostConfig: { Binds: [`${engineName}:/volume`] } });
      try {
        const archive = Readable.from(createTar({ cwd: dir, portable: true }, Object.keys(files)) as unknown as AsyncIterable<Buffer>);
        await helper.putArchive(archive as unknown as NodeJS.ReadableStream, { path: '/volume' });
      } finally {
        await helper.remove({ force: true }).catch(() => undefined);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return engineName;
  }

  async run(env: RunEnvironment, request: ContainerRequest, log: LogSink, signal: AbortSignal): Promise<number> {
    await this.ensureImage(request.image, request.logins, log, signal, request.pull ?? false);
    const network = request.network ?? env.network;
    const { exposed, bindings } = portSettings(request.ports ?? [], request.expose ?? []);
    const binds = [`${env.volume}:/workspace`, ...(request.volumeMounts ?? []).map((m) => `${m.volume}:${m.mountPath}`)];
    const extraEnv: string[] = [];
    if (request.engineAccess) {
      binds.push(`${(await this.engineProxy(env)).socketPath}:/var/run/docker.sock`);
      extraEnv.push('DOCKER_CONFIG=/berth-docker');
    }
    const container = await this.docker.createContainer({
      Image: request.image,
      ...(request.name ? { name: `${env.network}-${request.name}` } : {}),
      Cmd: request.args.length > 0 ? request.args : undefined,
      ...(request.entrypoint ? { Entrypoint: request.entrypoint } : {}),
      Env: ['HOME=/workspace', ...extraEnv, ...request.env],
      ...(request.workingDir === null ? {} : { WorkingDir: request.workingDir ?? '/workspace' }),
      ...(request.user ? { User: request.user } : {}),
      Labels: labels(env),
      ExposedPorts: exposed,
      HostConfig: {
        NetworkMode: network,
        Binds: binds,
        Privileged: request.privileged ?? false,
        PortBindings: bindings,
        ...(request.cpus ? { NanoCpus: Math.round(request.cpus * 1e9) } : {}),
      },
      NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: request.name ? [request.name] : [] } } },
    });
    if (request.context) await container.putArchive(request.context as unknown as NodeJS.ReadableStream, { path: '/workspace' });
    if (request.engineAccess) await container.putArchive(dockerConfigArchive(request.logins), { path: '/' });
    const output = (await container.attach({ stream: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => log(chunk.toString('utf8')));
    container.modem.demuxStream(output, sink, sink);
    if (request.detach) {
      await container.start();
      return 0; // a service: it keeps logging until the run ends and cleanup removes it
    }
    const kill = () => void container.kill().catch(() => undefined);
    signal.addEventListener('abort', kill, { once: true });
    try {
      await container.start();
      if (signal.aborted) kill(); // aborted while the container was being made
      const result = (await container.wait()) as { StatusCode: number };
      await new Promise((r) => setTimeout(r, 50)); // let the last output drain
      if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
      return result.StatusCode;
    } finally {
      signal.removeEventListener('abort', kill);
      if (!request.keep) await container.remove({ force: true }).catch(() => undefined);
    }
  }

  async loadWorkspace(env: RunEnvironment, context: Readable): Promise<void> {
    const helper = await this.helper(env);
    try {
      await helper.putArchive(context as unknown as NodeJS.ReadableStream, { path: '/workspace' });
    } finally {
      await helper.remove({ force: true }).catch(() => undefined);
    }
  }

  async workspaceArchive(env: RunEnvironment, folder: string, volumeMounts: Array<{ volume: string; mountPath: string }> = []): Promise<Readable> {
    // Volumes mounted inside the folder are part of what the engine archives (it mounts them for the copy).
    const helper = await this.helper(env, volumeMounts);
    const clean = folder.replace(/^\.\/?/, '').replace(/\/+$/, '');
    if (clean.split('/').includes('..')) throw new StepFailed(`context "${folder}" leaves the workspace`);
    const archive = (await helper.getArchive({ path: `/workspace/${clean ? `${clean}/` : ''}.` })) as unknown as Readable;
    archive.once('end', () => void helper.remove({ force: true }).catch(() => undefined));
    return archive;
  }

  /**
   * The `docker` built-in: the Docker CLI binary of this machine (it needs only libc) in a tiny
   * image made offline, talking to the run's engine through its socket.
   */
  async builtinImage(alias: 'docker'): Promise<string> {
    if (alias !== 'docker') throw new StepFailed(`unknown built-in ${alias}`);
    this.dockerCliImage ??= buildDockerCliImage(this.docker);
    return this.dockerCliImage;
  }

  private dockerCliImage: Promise<string> | undefined;

  private async helper(env: RunEnvironment, volumeMounts: Array<{ volume: string; mountPath: string }> = []): Promise<Docker.Container> {
    const image = await this.builtinImage('docker');
    const binds = [`${env.volume}:/workspace`, ...volumeMounts.map((m) => `${m.volume}:${m.mountPath}:ro`)];
    return this.docker.createContainer({ Image: image, Labels: labels(env), HostConfig: { Binds: binds } });
  }

  async nativePlatform(): Promise<string> {
    const info = (await this.docker.info()) as { OSType?: string; Architecture?: string };
    return normalizePlatform(`${info.OSType ?? 'linux'}/${info.Architecture ?? 'amd64'}`);
  }

  async removeOrphans(agent: string): Promise<number> {
    return this.removeLabelled([`${agentLabel}=${agent}`]);
  }

  async cleanup(env: RunEnvironment, temporaryImages: string[]): Promise<void> {
    await this.removeLabelled([`${runLabel}=${env.runId}`, `${agentLabel}=${env.agent}`]);
    await this.docker.getNetwork(env.network).remove().catch(() => undefined);
    await this.docker.getVolume(env.volume).remove().catch(() => undefined);
    const key = `${env.agent}/${env.runId}`;
    const proxy = await this.proxies.get(key)?.catch(() => undefined);
    this.proxies.delete(key);
    // Tags the run's docker CLI made (tag, pull, build, commit) go too; images others had stay.
    const madeByRun = proxy ? proxy.tags() : [];
    await proxy?.close();
    for (const image of [...temporaryImages, ...madeByRun]) await this.docker.getImage(image).remove({ force: true }).catch(() => undefined);
  }

  /** Containers first (they hold networks and volumes), then networks, then volumes. */
  private async removeLabelled(labels: string[]): Promise<number> {
    const filters = JSON.stringify({ label: labels });
    let removed = 0;
    const count = (p: Promise<unknown>) => p.then(() => removed++, () => undefined);
    for (const info of await this.docker.listContainers({ all: true, filters })) await count(this.docker.getContainer(info.Id).remove({ force: true }));
    for (const info of await this.docker.listNetworks({ filters })) await count(this.docker.getNetwork(info.Id).remove());
    const { Volumes: volumes } = await this.docker.listVolumes({ filters });
    for (const volume of volumes ?? []) await count(this.docker.getVolume(volume.Name).remove());
    return removed;
  }

  private async ensureImage(image: string, logins: RegistryLogin[], log: LogSink, signal: AbortSignal, force = false): Promise<void> {
    if (!force) {
      try {
        await this.docker.getImage(image).inspect();
        return;
      } catch {
        // not present locally: pull it
      }
    }
    const authconfig = authFor(image, logins);
    const stream = (await this.docker.pull(image, { ...(authconfig ? { authconfig } : {}), abortSignal: signal } as never)) as unknown as NodeJS.ReadableStream;
    await follow(this.docker, stream, log, signal);
  }
}

const socketPath = '/var/run/docker.sock';

/** `-p 8080:80`, `-p 80`, `--expose 9000` → the engine's ExposedPorts and PortBindings. */
function portSettings(ports: string[], expose: string[]): { exposed: Record<string, object>; bindings: Record<string, Array<{ HostPort: string }>> } {
  const exposed: Record<string, object> = {};
  const bindings: Record<string, Array<{ HostPort: string }>> = {};
  const key = (port: string) => (port.includes('/') ? port : `${port}/tcp`);
  for (const port of expose) exposed[key(port)] = {};
  for (const mapping of ports) {
    const parts = mapping.split(':');
    const container = key(parts[parts.length - 1]!);
    exposed[container] = {};
    bindings[container] = [{ HostPort: parts.length > 1 ? parts[parts.length - 2]! : '' }];
  }
  return { exposed, bindings };
}

function dockerConfigArchive(logins: RegistryLogin[]): NodeJS.ReadableStream {
  const auths = Object.fromEntries(logins.map((l) => [l.server, { auth: Buffer.from(`${l.username}:${l.password}`).toString('base64') }]));
  const dir = mkdtempSync(join(tmpdir(), 'berth-docker-config-'));
  mkdirSync(join(dir, 'berth-docker'));
  writeFileSync(join(dir, 'berth-docker', 'config.json'), JSON.stringify({ auths }), { mode: 0o600 });
  const archive = createTar({ cwd: dir, portable: true }, ['berth-docker']);
  archive.on('end', () => rmSync(dir, { recursive: true, force: true }));
  return Readable.from(archive as unknown as AsyncIterable<Buffer>) as unknown as NodeJS.ReadableStream;
}

async function buildDockerCliImage(docker: Docker): Promise<string> {
  const cli = ['/usr/bin/docker', '/usr/local/bin/docker'].find((p) => existsSync(p));
  if (!cli) throw new StepFailed('no Docker CLI on this machine for the docker built-in');
  const stamp = statSync(cli);
  const reference = `berth-builtin/docker-cli:${stamp.size.toString(36)}-${Math.floor(stamp.mtimeMs).toString(36)}`;
  const [repo, tag] = splitReference(reference);
  if (await docker.getImage(reference).inspect().then(() => true, () => false)) return reference;
  const root = mkdtempSync(join(tmpdir(), 'berth-docker-cli-'));
  const copy = (from: string, to: string) => {
    mkdirSync(dirname(join(root, to)), { recursive: true });
    copyFileSync(realpathSync(from), join(root, to));
  };
  copy(cli, 'usr/local/bin/docker');
  chmodSync(join(root, 'usr/local/bin/docker'), 0o755);
  // The CLI is a Go binary linked against libc only; take exactly what ldd names.
  for (const match of execFileSync('ldd', [cli], { encoding: 'utf8' }).matchAll(/(\/[^\s]+\.so[^\s]*)/g)) copy(match[1]!, match[1]!.slice(1));
  for (const busybox of ['/bin/busybox', '/usr/bin/busybox']) {
    if (existsSync(busybox)) {
      copy(busybox, 'bin/busybox');
      chmodSync(join(root, 'bin/busybox'), 0o755);
      symlinkSync('busybox', join(root, 'bin/sh'));
      break;
    }
  }
  mkdirSync(join(root, 'workspace'));
  mkdirSync(join(root, 'tmp'));
  const archive = Readable.from(createTar({ cwd: root, portable: true }, readdirSync(root)) as unknown as AsyncIterable<Buffer>);
  const stream = await docker.importImage(archive as unknown as NodeJS.ReadableStream, { repo, tag, changes: ['ENTRYPOINT ["/usr/local/bin/docker"]', 'ENV PATH=/usr/local/bin:/bin'] } as never);
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream as unknown as NodeJS.ReadableStream, (error: Error | null) => (error ? reject(error) : resolve())));
  rmSync(root, { recursive: true, force: true });
  return reference;
}

/** registry/repository of a reference, as Docker normalises it. */
function repositoryOf(reference: string): string | null {
  try {
    const { registry, repository } = normalizeImageReference(reference);
    return `${registry}/${repository}`;
  } catch {
    return null;
  }
}

export function splitReference(reference: string): [string, string] {
  const slash = reference.lastIndexOf('/');
  const colon = reference.lastIndexOf(':');
  return colon > slash ? [reference.slice(0, colon), reference.slice(colon + 1)] : [reference, 'latest'];
}

export { StepFailed };
