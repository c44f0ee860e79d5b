import type { Command } from 'commander';
import type { EventView, WebhookInput, WebhookView } from '../../webhooks/webhook-service.js';
import { ApiClient, CliError } from '../api-client.js';
import { outputFormat, print, printMessage, withOutput, type Column, type OutputFormat } from '../output.js';
import { invocation } from '../invocation.js';

const columns: Column<WebhookView>[] = [
  ['NAME', (w) => w.name],
  ['STATUS', (w) => w.status],
  ['SCOPE', (w) => w.scope],
  ['ACTIONS', (w) => w.actions],
  ['FORMAT', (w) => w.format],
  ['SIGNED', (w) => w.signed],
  ['PROVISIONING STATE', (w) => w.provisioningState],
];

/** `--headers k=v ...` (ACR's form); a lone `{}` clears them. */
function parseHeaders(values: string[] | undefined): Record<string, string> | undefined {
  if (values === undefined) return undefined;
  if (values.length === 1 && (values[0] === '{}' || values[0] === '')) return {};
  const headers: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq <= 0) throw new CliError(`--headers takes key=value pairs, got "${value}"`);
    headers[value.slice(0, eq)] = value.slice(eq + 1);
  }
  return headers;
}

interface WebhookOptions {
  name: string;
  uri?: string;
  actions?: string[];
  scope?: string;
  headers?: string[];
  status?: string;
  format?: string;
  signed?: string | boolean;
  output?: string;
}

function input(o: WebhookOptions): WebhookInput {
  if (o.status !== undefined && o.status !== 'enabled' && o.status !== 'disabled') throw new CliError('--status takes enabled or disabled');
  if (o.format !== undefined && o.format !== 'acr' && o.format !== 'cloudevents') throw new CliError('--format takes acr or cloudevents');
  const signed = o.signed === undefined ? undefined : o.signed === true || o.signed === 'true';
  return {
    uri: o.uri,
    actions: o.actions,
    scope: o.scope,
    headers: parseHeaders(o.headers),
    status: o.status as WebhookInput['status'],
    format: o.format as WebhookInput['format'],
    signed,
  };
}

function webhookOptions(command: Command): Command {
  return command
    .requiredOption('-n, --name <name>', 'webhook name (5-50 letters or digits)')
    .option('--uri <uri>', 'the receiver')
    .option('--actions <actions...>', 'push delete quarantine chart_push chart_delete run_queued run_succeeded run_failed')
    .option('--scope <scope>', "'' whole registry, repo:tag, repo:* (bare repo = repo:latest)")
    .option('--headers <key=value...>', 'custom headers sent with every event ({} clears)')
    .option('--status <status>', 'enabled or disabled')
    .option('--format <format>', 'acr (default) or cloudevents');
}

function printWithSecret(format: OutputFormat, webhook: WebhookView): void {
  print(format, webhook, columns);
  if (format === 'table' && invocation().query === undefined && webhook.signingSecret) process.stdout.write(`SIGNING SECRET (shown once): ${webhook.signingSecret}\n`);
}

export function registerWebhookCommands(program: Command): void {
  const webhook = program.command('webhook').description('webhooks with ACR payloads (az acr webhook)');
  const path = (name: string) => `/api/v1/webhooks/${encodeURIComponent(name)}`;

  withOutput(webhookOptions(webhook.command('create').description('create a webhook')).option('--signed', 'sign events with HMAC-SHA256 (X-Berth-Signature-256)')).action(
    async (o: WebhookOptions) => {
      if (!o.uri || !o.actions) throw new CliError('--uri and --actions are required');
      printWithSecret(outputFormat(o), await ApiClient.fromStoredLogin().call<WebhookView>('POST', '/api/v1/webhooks', { name: o.name, ...input(o) }));
    },
  );
  withOutput(webhookOptions(webhook.command('update').description('change a webhook')).option('--signed <bool>', 'true: new signing secret; false: unsigned')).action(
    async (o: WebhookOptions) => {
      printWithSecret(outputFormat(o), await ApiClient.fromStoredLogin().call<WebhookView>('PATCH', path(o.name), input(o)));
    },
  );
  withOutput(webhook.command('list').description('list webhooks')).action(async (o: { output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<WebhookView[]>('GET', '/api/v1/webhooks'), columns);
  });
  withOutput(webhook.command('show').description('show a webhook').requiredOption('-n, --name <name>', 'webhook name')).action(async (o: { name: string; output?: string }) => {
    print(outputFormat(o), await ApiClient.fromStoredLogin().call<WebhookView>('GET', path(o.name)), columns);
  });
  withOutput(webhook.command('delete').description('delete a webhook').requiredOption('-n, --name <name>', 'webhook name').option('-y, --yes', 'do not ask')).action(
    async (o: { name: string; output?: string }) => {
      await ApiClient.fromStoredLogin().call('DELETE', path(o.name));
      printMessage(outputFormat(o), `Deleted webhook ${o.name}`, { name: o.name, deleted: true });
    },
  );
  withOutput(webhook.command('get-config').description('service URI and custom headers').requiredOption('-n, --name <name>', 'webhook name')).action(
    async (o: { name: string; output?: string }) => {
      const config = await ApiClient.fromStoredLogin().call<{ serviceUri: string; customHeaders: Record<string, string> }>('GET', `${path(o.name)}/config`);
      print(outputFormat(o), config, [
        ['SERVICE URI', (c) => c.serviceUri],
        ['CUSTOM HEADERS', (c) => Object.entries(c.customHeaders).map(([k, v]) => `${k}=${v}`)],
      ]);
    },
  );
  withOutput(webhook.command('ping').description('send a test event now').requiredOption('-n, --name <name>', 'webhook name')).action(async (o: { name: string; output?: string }) => {
    const result = await ApiClient.fromStoredLogin().call<{ id: string; status: string; statusCode: number | null }>('POST', `${path(o.name)}/ping`);
    print(outputFormat(o), result, [
      ['EVENT ID', (r) => r.id],
      ['STATUS', (r) => r.status],
      ['HTTP STATUS', (r) => r.statusCode],
    ]);
  });
  withOutput(
    webhook.command('list-events').description('deliveries, newest first').requiredOption('-n, --name <name>', 'webhook name').option('--top <n>', 'at most this many', '50'),
  ).action(async (o: { name: string; top: string; output?: string }) => {
    const events = await ApiClient.fromStoredLogin().call<EventView[]>('GET', `${path(o.name)}/events?top=${encodeURIComponent(o.top)}`);
    print(outputFormat(o), events, [
      ['ID', (e) => e.id],
      ['ACTION', (e) => e.action],
      ['STATUS', (e) => e.status],
      ['ATTEMPTS', (e) => e.attempts],
      ['HTTP STATUS', (e) => e.eventResponseMessage?.statusCode ?? e.error],
      ['CREATED', (e) => e.createdAt],
    ]);
  });
}
