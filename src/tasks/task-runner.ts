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
  /** The agent that owns the run; with the run id it labels everything the run creates. */
  agent: string;
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
  /** os/architecture[/variant] to build for (the engine needs emulation for a foreign one). */
  platform?: string;
  noCache?: boolean;
  /** Pull newer base images even when the engine has them. */
  pull?: boolean;
  labels?: Record<string, string>;
  /** Another network than the run's own for RUN instructions. */
  network?: string;
}

export interface ContainerRequest {
  image: string;
  args: string[];
  /** A tar of the source, unpacked into /workspace before the container starts. */
  context: Readable | null;
  env: string[];
  logins: RegistryLogin[];
  /** Container name suffix and DNS alias on the run network (a step's id). */
  name?: string;
  /** Start and return at once (a service); removed when the run ends. */
  detach?: boolean;
  entrypoint?: string[] | null;
  /** Absolute; null keeps the image's own. Default /workspace. */
  workingDir?: string | null;
  user?: string | null;
  privileged?: boolean;
  /** Mount the engine's socket and a docker config holding the run's logins (the docker image). */
  engineAccess?: boolean;
  /** Another network than the run's own (declared in the task file). */
  network?: string;
  /** Pull the image even when the engine has it. */
  pull?: boolean;
  /** Keep the container after the step (the run's cleanup still removes it). */
  keep?: boolean;
  /** Named run volumes (from createVolume) mounted at paths. */
  volumeMounts?: Array<{ volume: string; mountPath: string }>;
  /** `-p host:container` / `-p container` and `--expose` values. */
  ports?: string[];
  expose?: string[];
  /** CPU limit (`--cpus`). */
  cpus?: number | null;
}

export type LogSink = (text: string) => void;

/**
 * Executes run steps. Docker's engine API today; a daemonless driver (buildah) can implement the
 * same interface later. Every method honours `signal` (cancel, timeout) by stopping at once.
 */
export interface TaskRunner {
  prepare(runId: string, agent: string): Promise<RunEnvironment>;
  /** The platform the engine runs natively (os/architecture[/variant]). */
  nativePlatform(): Promise<string>;
  build(env: RunEnvironment, request: BuildRequest, log: LogSink, signal: AbortSignal): Promise<void>;
  /** Pulls `reference` from its registry even when the engine has it (a build's base, fresh). */
  pullImage(env: RunEnvironment, reference: string, logins: RegistryLogin[], log: LogSink, signal: AbortSignal, platform?: string): Promise<void>;
  /** True when the engine holds an image by this reference. */
  hasImage(reference: string): Promise<boolean>;
  /**
   * The registry digest of the engine's image for `reference` (its RepoDigests entry for that
   * repository), or null when the engine has none (built here, never pulled or pushed).
   */
  imageDigest(reference: string): Promise<string | null>;
  /** Pushes a tag; returns the digest the registry stored. */
  push(env: RunEnvironment, reference: string, login: RegistryLogin | null, log: LogSink, signal: AbortSignal): Promise<string>;
  /** Runs a container to completion; returns its exit code. */
  run(env: RunEnvironment, request: ContainerRequest, log: LogSink, signal: AbortSignal): Promise<number>;
  /** Creates a network for the run (labelled like the rest); returns its engine name. */
  createNetwork(env: RunEnvironment, name: string, driver: string): Promise<string>;
  /** Creates a volume for the run holding `files` (name → content); returns its engine name. */
  createVolume(env: RunEnvironment, name: string, files: Record<string, string>): Promise<string>;
  /** Unpacks a source context into the run's /workspace volume. */
  loadWorkspace(env: RunEnvironment, context: Readable): Promise<void>;
  /**
   * A tar of /workspace/<folder> as it is now (the context of a build step), with the step's
   * volumes mounted where its volumeMounts say (so one mounted inside the folder is in the context).
   */
  workspaceArchive(env: RunEnvironment, folder: string, volumeMounts?: Array<{ volume: string; mountPath: string }>): Promise<Readable>;
  /** The image behind a built-in alias (`docker`: the Docker CLI against the run's engine). */
  builtinImage(alias: 'docker'): Promise<string>;
  /**
   * Removes whatever an earlier life of `agent` left on the engine (it was killed mid-run; its
   * runs have ended on the server by lease expiry). Returns how many objects went.
   */
  removeOrphans(agent: string): Promise<number>;
  /** Removes the run's containers, network, volume and temporary images, however the run ended. */
  cleanup(env: RunEnvironment, temporaryImages: string[]): Promise<void>;
}
