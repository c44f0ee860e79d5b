import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetadataStore } from '../metadata/metadata-store.js';

/** Prometheus metrics of one server instance (its own registry, so tests can run several). */
export class RegistryMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly requestDuration: Histogram<'route' | 'method' | 'status'>;
  readonly bytesIn: Counter;
  readonly bytesOut: Counter;

  constructor(metadata: MetadataStore) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'berth_' });
    this.requests = new Counter({
      name: 'berth_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'berth_http_request_duration_seconds',
      help: 'HTTP request latency by route, method and status',
      labelNames: ['route', 'method', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.bytesIn = new Counter({ name: 'berth_registry_bytes_received_total', help: 'Blob and manifest bytes received', registers });
    this.bytesOut = new Counter({ name: 'berth_registry_bytes_sent_total', help: 'Blob and manifest bytes sent', registers });
    new Gauge({
      name: 'berth_registry_upload_sessions',
      help: 'Blob upload sessions open',
      registers,
      async collect() {
        this.set(await metadata.countUploads());
      },
    });
    new Gauge({
      name: 'berth_storage_used_bytes',
      help: 'Bytes of blobs and manifests stored',
      registers,
      async collect() {
        this.set(await metadata.storageUsed());
      },
    });
  }

  observe(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method, status: String(status) };
    this.requests.inc(labels);
    this.requestDuration.observe(labels, seconds);
  }
}
