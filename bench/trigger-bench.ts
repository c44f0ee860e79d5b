import { createHash, randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { berthCredentials, startBerthTarget, type Target } from './targets.js';

/**
 * Triggers (Berth only: Distribution has none, so these are absolute figures, not ratios):
 * - push → queued: the time from a base's manifest PUT answer until the runs of its 5 dependent
 *   tasks are queued, with 100 tasks registered (p50 and p99 over the pushes);
 * - the upstream poller's requests per poll interval, 100 tasks on 10 distinct upstream bases
 *   (what a registry like Docker Hub sees: one HEAD per image and interval is the goal).
 */
export interface TriggerFigures {
  pushToQueuedMs: { p50: number; p99: number; max: number; pushes: number };
  upstreamPolls: { tasks: number; images: number; intervalSeconds: number; manifestHeadsPerInterval: number; tokenRequestsPerInterval: number; manifestGets: number };
}

const auth = `Basic ${Buffer.from(`${berthCredentials.user}:${berthCredentials.password}`).toString('base64')}`;

async function call<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: auth, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}

/** A small image (config, one layer, manifest) pushed under `tag`; returns the manifest digest. */
async function pushImage(base: string, repository: string, tag: string): Promise<{ digest: string; answeredAt: number }> {
  const blob = async (data: Buffer) => {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const res = await fetch(`${base}/v2/${repository}/blobs/uploads/?digest=${digest}`, { method: 'POST', headers: { Authorization: auth, "Content-Type": "application/octet-stream" }, body: new Uint8Array(data) });
    if (res.status !== 201) throw new Error(`blob push: ${res.status}`);
    return { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: data.length };
  };
  const config = await blob(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
  const layer = await blob(randomBytes(256));
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { ...config, mediaType: 'application/vnd.oci.image.config.v1+json' }, layers: [layer] }));
  const res = await fetch(`${base}/v2/${repository}/manifests/${tag}`, { method: 'PUT', headers: { Authorization: auth, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: new Uint8Array(manifest) });
  const answeredAt = performance.now();
  if (res.status !== 201) throw new Error(`manifest push: ${res.status}`);
  return { digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`, answeredAt };
}

interface RunView {
  id: string;
  taskName: string;
  status: string;
  imageUpdateTrigger?: { images: Array<{ digest: string }> };
}

async function pushToQueued(port: number, pushes: number): Promise<TriggerFigures['pushToQueuedMs']> {
  const berth = await startBerthTarget(port, true, { BERTH_LOCAL_AGENT: 'false' });
  try {
    const host = new URL(berth.url).host;
    for (let i = 0; i < 95; i++) await call(berth.url, 'POST', '/api/v1/tasks', { name: `bench-other-${i}`, command: 'busybox true', watchImages: [`${host}/fleet/base-${i % 10}:latest`] });
    for (let i = 0; i < 5; i++) await call(berth.url, 'POST', '/api/v1/tasks', { name: `bench-dependent-${i}`, command: 'busybox true', watchImages: [`${host}/fleet/shared:latest`] });
    const latencies: number[] = [];
    for (let n = 0; n < pushes; n++) {
      const { digest, answeredAt } = await pushImage(berth.url, 'fleet/shared', 'latest');
      let queued: RunView[] = [];
      for (;;) {
        const runs = await call<RunView[]>(berth.url, 'GET', '/api/v1/runs?status=Queued&top=50');
        queued = runs.filter((r) => r.imageUpdateTrigger?.images[0]?.digest === digest);
        if (queued.length >= 5) break;
        if (performance.now() - answeredAt > 30_000) throw new Error(`push ${n}: only ${queued.length} of 5 runs queued after 30 s`);
        await new Promise((r) => setTimeout(r, 2));
      }
      latencies.push(performance.now() - answeredAt);
      // Each push measures fresh runs, not the folding of a push into a waiting run.
      for (const run of queued) await call(berth.url, 'POST', `/api/v1/runs/${run.id}/cancel`);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]! * 10) / 10;
    return { p50: at(0.5), p99: at(0.99), max: at(1), pushes };
  } finally {
    await berth.stop();
  }
}

/** Counts what reaches the upstream registry. */
function countingProxy(target: URL): Promise<{ server: Server; port: number; log: Array<{ method: string; url: string }> }> {
  const log: Array<{ method: string; url: string }> = [];
  const server = createServer((req, res) => {
    log.push({ method: req.method ?? '', url: req.url ?? '' });
    const up = httpRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (answer) => {
      const headers = { ...answer.headers };
      if (typeof headers['www-authenticate'] === 'string') headers['www-authenticate'] = headers['www-authenticate'].replace(target.host, `127.0.0.1:${port()}`);
      res.writeHead(answer.statusCode ?? 502, headers);
      answer.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  const port = () => (server.address() as { port: number }).port;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: port(), log })));
}

async function upstreamPolls(port: number, intervalSeconds: number, windowSeconds: number): Promise<TriggerFigures['upstreamPolls']> {
  const upstream = await startBerthTarget(port);
  const proxy = await countingProxy(new URL(upstream.url));
  let berth: Target | null = null;
  try {
    for (let i = 0; i < 10; i++) await pushImage(upstream.url, `runtime/base-${i}`, 'latest');
    berth = await startBerthTarget(port + 1, true, { BERTH_LOCAL_AGENT: 'false', BERTH_BASE_POLL_SECONDS: String(intervalSeconds) });
    const host = `127.0.0.1:${proxy.port}`;
    for (let i = 0; i < 100; i++) {
      const name = `bench-poller-${i}`;
      await call(berth.url, 'POST', '/api/v1/tasks', { name, command: 'busybox true', watchImages: [`${host}/runtime/base-${i % 10}:latest`] });
      await call(berth.url, 'POST', `/api/v1/tasks/${name}/credentials`, { loginServer: host, username: berthCredentials.user, password: berthCredentials.password });
    }
    // The first polls are spread over one interval (jitter); count a steady window after it.
    await new Promise((r) => setTimeout(r, intervalSeconds * 1500));
    const start = proxy.log.length;
    await new Promise((r) => setTimeout(r, windowSeconds * 1000));
    const window = proxy.log.slice(start);
    const intervals = windowSeconds / intervalSeconds;
    return {
      tasks: 100,
      images: 10,
      intervalSeconds,
      manifestHeadsPerInterval: Math.round((window.filter((e) => e.method === 'HEAD' && e.url.includes('/manifests/')).length / intervals) * 10) / 10,
      tokenRequestsPerInterval: Math.round((window.filter((e) => e.url.startsWith('/oauth2/token')).length / intervals) * 10) / 10,
      manifestGets: proxy.log.filter((e) => e.method === 'GET' && e.url.includes('/manifests/')).length,
    };
  } finally {
    await berth?.stop();
    await new Promise((r) => proxy.server.close(() => r(undefined)));
    proxy.server.closeAllConnections();
    await upstream.stop();
  }
}

export async function triggerBench(basePort: number, quick: boolean): Promise<TriggerFigures> {
  return {
    pushToQueuedMs: await pushToQueued(basePort, quick ? 10 : 50),
    upstreamPolls: await upstreamPolls(basePort + 1, quick ? 2 : 5, quick ? 6 : 30),
  };
}
