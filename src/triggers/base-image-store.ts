/** How a task depends on an image: built FROM it (last stage or another), or watching it (`--watch-image`). */
export type BaseDependency = 'runtime' | 'buildtime' | 'watch';

export interface ImageName {
  /** `docker.io` for Docker Hub; host[:port] otherwise. */
  registry: string;
  repository: string;
  tag: string;
}

export interface TaskBaseImage extends ImageName {
  task: string;
  dependency: BaseDependency;
  /** The digest the task's last build used (null: not built yet, or unknown). */
  digest: string | null;
  /** A new-tag policy (`semver:...`, `regex:...`) for this base, when the task opted in. */
  tagPolicy: string | null;
  /** When an upstream poll last looked at it, and what went wrong if it failed. */
  checkedAt: string | null;
  error: string | null;
}

/**
 * Which tasks depend on which images. Indexed by image, so a push finds its dependents without
 * reading every task.
 */
export interface BaseImageStore {
  /** Replaces a task's bases; the poll state (checkedAt, error) of images it keeps is kept. */
  replaceTaskBases(task: string, bases: Array<Omit<TaskBaseImage, 'task' | 'checkedAt' | 'error'>>): Promise<void>;
  taskBases(task: string): Promise<TaskBaseImage[]>;
  /** Every task depending on an image, under any of the names `registries` (this registry has several). */
  dependents(registries: string[], repository: string, tag: string): Promise<TaskBaseImage[]>;
  /** Tasks with a new-tag policy on a repository. */
  tagPolicyDependents(registries: string[], repository: string): Promise<TaskBaseImage[]>;
  /** Every distinct image some task depends on (for the upstream poller). */
  distinctImages(): Promise<ImageName[]>;
  /** Records a poll of an image on every task that depends on it. */
  markChecked(image: ImageName, checkedAt: string, error: string | null): Promise<void>;
  setDigest(task: string, image: ImageName, digest: string): Promise<void>;
  deleteTask(task: string): Promise<void>;
}

export const imageKey = (image: ImageName): string => `${image.registry}/${image.repository}:${image.tag}`;
