import type { FastifyReply, FastifyRequest } from 'fastify';
import { uploadRangeHeader, type BlobService } from '../registry/blob-service.js';
import type { UploadSession } from '../metadata/metadata-store.js';
import type { RegistryMetrics } from '../observability/metrics.js';
import type { RegistryAccess } from './access.js';
import { bodyStream, contentLengthOf, hasBody, headerValue, parseByteRange, parseContentRange, queryParam } from './http-util.js';

function sendUploadState(reply: FastifyReply, session: UploadSession, status: number): FastifyReply {
  return reply
    .code(status)
    .header('Location', `/v2/${session.repository}/blobs/uploads/${session.id}`)
    .header('Range', uploadRangeHeader(session.size))
    .header('Docker-Upload-UUID', session.id)
    .header('Content-Length', '0')
    .send();
}

function sendBlobCreated(reply: FastifyReply, repository: string, digest: string): FastifyReply {
  return reply
    .code(201)
    .header('Location', `/v2/${repository}/blobs/${digest}`)
    .header('Docker-Content-Digest', digest)
    .header('Content-Length', '0')
    .send();
}

export class BlobHandlers {
  constructor(
    private readonly blobs: BlobService,
    private readonly metrics: RegistryMetrics,
    private readonly access: RegistryAccess,
  ) {}

  async get(request: FastifyRequest, reply: FastifyReply, name: string, digest: string): Promise<FastifyReply> {
    const blob = await this.blobs.stat(name, digest);
    const range = parseByteRange(headerValue(request, 'range'), blob.size);
    reply
      .header('Docker-Content-Digest', digest)
      .header('Content-Type', 'application/octet-stream')
      .header('Accept-Ranges', 'bytes')
      .header('Cache-Control', 'max-age=31536000')
      .header('ETag', `"${digest}"`);
    const length = range ? range.end - range.start + 1 : blob.size;
    reply.header('Content-Length', String(length));
    if (range) reply.code(206).header('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`);
    if (request.method === 'HEAD') return reply.send();
    this.metrics.bytesOut.inc(length);
    return reply.send(await blob.open(range ?? undefined));
  }

  async delete(reply: FastifyReply, name: string, digest: string): Promise<FastifyReply> {
    await this.blobs.delete(name, digest);
    return reply.code(202).header('Content-Length', '0').send();
  }

  /** POST: start an upload, push in one request (`?digest=`), or mount (`?mount=&from=`). */
  async start(request: FastifyRequest, reply: FastifyReply, name: string): Promise<FastifyReply> {
    const mount = queryParam(request, 'mount');
    if (mount !== undefined) {
      const source = await this.readableSource(request, mount, queryParam(request, 'from'));
      if (source !== null && (await this.blobs.mount(name, mount, source))) return sendBlobCreated(reply, name, mount);
    }
    const digest = queryParam(request, 'digest');
    if (digest !== undefined && mount === undefined) {
      const length = contentLengthOf(request);
      const result = await this.blobs.pushMonolithic(name, digest, bodyStream(request), length);
      this.metrics.bytesIn.inc(result.received);
      return sendBlobCreated(reply, name, result.digest);
    }
    return sendUploadState(reply, await this.blobs.startUpload(name), 202);
  }

  /** A repository holding the blob that the caller may read: a mount must never leak content. */
  private async readableSource(request: FastifyRequest, digest: string, from: string | undefined): Promise<string | null> {
    const candidates = from !== undefined ? [from] : await this.blobs.repositoriesHolding(digest);
    for (const candidate of candidates) {
      if (await this.access.canPull(request, candidate)) return candidate;
    }
    return null;
  }

  async status(reply: FastifyReply, name: string, id: string): Promise<FastifyReply> {
    return sendUploadState(reply, await this.blobs.uploadStatus(name, id), 204);
  }

  async patch(request: FastifyRequest, reply: FastifyReply, name: string, id: string): Promise<FastifyReply> {
    const range = parseContentRange(headerValue(request, 'content-range'));
    const session = await this.blobs.appendChunk(name, id, bodyStream(request), range, contentLengthOf(request));
    this.metrics.bytesIn.inc(session.received);
    return sendUploadState(reply, session, 202);
  }

  async complete(request: FastifyRequest, reply: FastifyReply, name: string, id: string): Promise<FastifyReply> {
    const digest = queryParam(request, 'digest') ?? '';
    const body = hasBody(request) ? bodyStream(request) : null;
    const result = await this.blobs.completeUpload(name, id, digest, body, contentLengthOf(request));
    this.metrics.bytesIn.inc(result.received);
    return sendBlobCreated(reply, name, result.digest);
  }

  async cancel(reply: FastifyReply, name: string, id: string): Promise<FastifyReply> {
    await this.blobs.cancelUpload(name, id);
    return reply.code(204).send();
  }
}
