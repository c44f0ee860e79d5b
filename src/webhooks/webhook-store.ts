/** ACR's actions, plus Berth's task-run events (run_queued, run_succeeded, run_failed). */
export const webhookActions = ['push', 'delete', 'quarantine', 'chart_push', 'chart_delete', 'run_queued', 'run_succeeded', 'run_failed'] as const;
export type WebhookAction = (typeof webhookActions)[number];
export type WebhookFormat = 'acr' | 'cloudevents';

export interface WebhookRecord {
  name: string;
  serviceUri: string;
  customHeaders: Record<string, string>;
  actions: WebhookAction[];
  /** '' = whole registry; `repo:tag`; `repo:*` (a bare `repo` is stored as `repo:latest`). */
  scope: string;
  enabled: boolean;
  format: WebhookFormat;
  /** HMAC-SHA256 key for the signature header, or null for none. */
  signingSecret: string | null;
  createdAt: string;
}

export type DeliveryStatus = 'pending' | 'sending' | 'delivered' | 'failed';

export interface DeliveryRecord {
  id: number;
  webhook: string;
  eventId: string;
  action: string;
  requestUri: string;
  requestHeaders: Record<string, string>;
  requestBody: string;
  status: DeliveryStatus;
  attempts: number;
  createdAt: string;
  nextAttemptAt: string;
  lastAttemptAt: string | null;
  responseStatus: number | null;
  responseReason: string | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  error: string | null;
}

export type NewDelivery = Pick<DeliveryRecord, 'webhook' | 'eventId' | 'action' | 'requestUri' | 'requestHeaders' | 'requestBody' | 'createdAt'> & {
  /** 'pending' (default) goes through the outbox; 'sending' is delivered by the caller itself (ping). */
  status?: 'pending' | 'sending';
};

/** Webhooks and their durable outbox of deliveries, in the metadata database. */
export interface WebhookStore {
  getWebhook(name: string): Promise<WebhookRecord | null>;
  listWebhooks(): Promise<WebhookRecord[]>;
  putWebhook(webhook: WebhookRecord): Promise<void>;
  deleteWebhook(name: string): Promise<boolean>;

  /** Adds deliveries to the outbox, all or none; returns their ids. */
  enqueue(deliveries: NewDelivery[]): Promise<number[]>;
  /** For every webhook, its oldest pending delivery (deliveries go out in order per webhook). */
  nextPending(): Promise<DeliveryRecord[]>;
  recordAttempt(id: number, update: Partial<Pick<DeliveryRecord, 'status' | 'attempts' | 'nextAttemptAt' | 'lastAttemptAt' | 'responseStatus' | 'responseReason' | 'responseHeaders' | 'responseBody' | 'error'>>): Promise<void>;
  listDeliveries(webhook: string, limit: number): Promise<DeliveryRecord[]>;
}
