import type { FastifyReply, FastifyRequest } from 'fastify';
import { maxManifestBytes, type ManifestService } from '../registry/manifest-service.js';
import type { RegistryMetrics } from '../observability/metrics.js';
import { MediaType } from '../registry/manifest.js';
import { headerValue, nextLink, pageParams, queryParam, readBody } from './http-util.js';

/** Where pulls are counted (in memory; see PullStatistics). */
export interface PullRecorder {
  record(repository: string, digest: string, tag: string | null, manifest: boolean): void;
}

export class ManifestHandlers {
  constructor(
    private readonly manifests: ManifestService,
    private readonly metrics: RegistryMetrics,
    private readonly pulls: PullRecorder | null = null,
  ) {}

  async get(request: FastifyRequest, reply: FastifyReply, name: string, reference: string): Promise<FastifyReply> {
    const manifest = await this.manifests.get(name, reference);
    reply
      .header('Content-Type', manifest.mediaType)
      .header('Docker-Content-Digest', manifest.digest)
      .header('ETag', `"${manifest.digest}"`)
      .header('Content-Length', String(manifest.size));
    // A GET pulls the manifest (and the tag it was asked by). A HEAD by tag counts for the tag
    // only: containerd resolves a tag with HEAD, then GETs the digest, which counts the manifest.
    const byTag = !reference.includes(':');
    if (request.method === 'HEAD') {
      if (byTag) this.pulls?.record(name, manifest.digest, reference, false);
      return reply.send();
    }
    this.pulls?.record(name, manifest.digest, byTag ? reference : null, true);
    this.metrics.bytesOut.inc(manifest.size);
    return reply.send(Buffer.from(manifest.content));
  }

  async put(request: FastifyRequest, reply: FastifyReply, name: string, reference: string): Promise<FastifyReply> {
    const content = await readBody(request, maxManifestBytes);
    this.metrics.bytesIn.inc(content.length);
    const result = await this.manifests.put(name, reference, content, headerValue(request, 'content-type'));
    reply
      .code(201)
      .header('Location', `/v2/${name}/manifests/${result.digest}`)
      .header('Docker-Content-Digest', result.digest)
      .header('Content-Length', '0');
    if (result.subject) reply.header('OCI-Subject', result.subject);
    return reply.send();
  }

  async delete(reply: FastifyReply, name: string, reference: string): Promise<FastifyReply> {
    await this.manifests.delete(name, reference);
    return reply.code(202).header('Content-Length', '0').send();
  }

  async tags(request: FastifyRequest, reply: FastifyReply, name: string): Promise<FastifyReply> {
    const { last, n } = pageParams(request);
    const tags = n === 0 ? [] : await this.manifests.listTags(name, last, n);
    const link = nextLink(`/v2/${name}/tags/list`, tags, n);
    if (link) reply.header('Link', link);
    return reply.type('application/json').send({ name, tags });
  }

  async catalog(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { last, n } = pageParams(request);
    const repositories = n === 0 ? [] : await this.manifests.listRepositories(last, n);
    const link = nextLink('/v2/_catalog', repositories, n);
    if (link) reply.header('Link', link);
    return reply.type('application/json').send({ repositories });
  }

  async referrers(request: FastifyRequest, reply: FastifyReply, name: string, digest: string): Promise<FastifyReply> {
    const artifactType = queryParam(request, 'artifactType');
    const referrers = await this.manifests.listReferrers(name, digest, artifactType);
    if (artifactType !== undefined) reply.header('OCI-Filters-Applied', 'artifactType');
    const index = {
      schemaVersion: 2,
      mediaType: MediaType.ociIndex,
      manifests: referrers.map((r) => ({
        mediaType: r.mediaType,
        digest: r.digest,
        size: r.size,
        ...(r.artifactType ? { artifactType: r.artifactType } : {}),
        ...(r.annotations ? { annotations: r.annotations } : {}),
      })),
    };
    return reply.type(MediaType.ociIndex).send(Buffer.from(JSON.stringify(index)));
  }
}
