import type { Readable } from 'node:stream';

export interface RegistryLogin {
  /** host:port as the engine reaches it. */
  server: string;
  username: string;
  password: string;
}

/** What one run owns on the engine; everything carries the run's label so cleanup finds it. */
export interface RunEnvironment {
  runId: string;
  network: string;
  volume: string;
}

export interface BuildRequest {
  context: Readable;
  dockerfile: string;
  tags: string[];
  buildArgs: Record<string, string>;
  target: string | null;
  logins: RegistryLogin[];
}

export interface ContainerRequest {
  image: string;
  args: string[];
  /** A tar of the source, unpacked into /workspace before the container starts. */
  context: Readable | null;
  env: string[];
  logins: RegistryLogin[];
}

export type LogSink = (text: string) => void;

/**
 * Executes run steps. Docker's engine API today; a daemonless driver (buildah) can implement the
 * same interface later. Every method honours `signal` (cancel, timeout) by stopping at once.
 */
export interface TaskRunner {
  prepare(runId: string): Promise<RunEnvironment>;
  build(env: RunEnvironment, request: BuildRequest, log: LogSink, signal: AbortSignal): Promise<void>;
  /** Pushes a tag; returns the digest the registry stored. */
  push(env: RunEnvironment, reference: string, login: RegistryLogin | null, log: LogSink, signal: AbortSignal): Promise<string>;
  /** Runs a container to completion; returns its exit code. */
  run(env: RunEnvironment, request: ContainerRequest, log: LogSink, signal: AbortSignal): Promise<number>;
  /** Removes the run's containers, network, volume and temporary images, however the run ended. */
  cleanup(env: RunEnvironment, temporaryImages: string[]): Promise<void>;
}
