import type { Command } from 'commander';
import { EgressPolicy, validateEgressRules } from '../../network/egress.js';
import { CliError } from '../api-client.js';
import { outputFormat, printMessage, withOutput } from '../output.js';

export const chatFormats = ['auto', 'slack', 'teams'] as const;
type ChatFormat = Exclude<(typeof chatFormats)[number], 'auto'>;

// Hosts of Microsoft's incoming webhooks (the Office 365 connectors and the Workflows that replace them).
const teamsHosts = [/\.webhook\.office\.com$/i, /\.logic\.azure\.com$/i, /^outlook\.office\.com$/i, /\.powerplatform\.com$/i];

export function chatFormatFor(url: URL, format: string): ChatFormat {
  if (format === 'slack' || format === 'teams') return format;
  if (format !== 'auto') throw new CliError(`unknown --format "${format}": use ${chatFormats.join(', ')}`);
  return teamsHosts.some((host) => host.test(url.hostname)) ? 'teams' : 'slack';
}

/** The message in the shape each chat expects: Slack's `text` + blocks, Teams' MessageCard. */
export function chatMessage(format: ChatFormat, title: string, text: string): Record<string, unknown> {
  if (format === 'teams') return { '@type': 'MessageCard', '@context': 'https://schema.org/extensions', summary: title, title, text };
  // Slack limits a header to 150 characters and a section to 3000; `text` is what notifications show.
  const blocks: unknown[] = [{ type: 'header', text: { type: 'plain_text', text: title.slice(0, 150) } }];
  if (text !== '') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: text.slice(0, 3000) } });
  return { text: text === '' ? title : `${title}\n${text}`, blocks };
}

function egressPolicy(): EgressPolicy {
  try {
    const list = (value: string | undefined) => validateEgressRules((value ?? '').split(',').map((e) => e.trim()).filter((e) => e !== ''));
    return new EgressPolicy({ deny: list(process.env.BERTH_EGRESS_DENY), allow: list(process.env.BERTH_EGRESS_ALLOW) });
  } catch (error) {
    throw new CliError(`BERTH_EGRESS_DENY / BERTH_EGRESS_ALLOW: ${(error as Error).message}`);
  }
}

/**
 * `berth notify`: a chat message from a script or a task step (`cmd: berth notify ...` runs it
 * beside the agent, nothing to pull). It needs no registry login. The webhook URL is a secret of
 * its own (whoever has it may post), so messages name only its origin.
 */
export function registerNotifyCommand(program: Command): void {
  withOutput(
    program
      .command('notify')
      .description('post a message to a chat webhook (Slack or Microsoft Teams)')
      .requiredOption('--uri <url>', 'the incoming webhook URL')
      .requiredOption('--title <title>', 'the title')
      .option('--text <text>', 'the message', '')
      .option('--format <format>', `${chatFormats.join(', ')} (auto: teams for Microsoft webhook hosts, else slack)`, 'auto')
      .option('--timeout <seconds>', 'give up after this long', '30'),
  ).action(async (o: { uri: string; title: string; text: string; format: string; timeout: string; output?: string }) => {
    const output = outputFormat(o);
    let url: URL;
    try {
      url = new URL(o.uri);
    } catch {
      throw new CliError('--uri is not a URL');
    }
    const format = chatFormatFor(url, o.format);
    const seconds = Number(o.timeout);
    if (!Number.isFinite(seconds) || seconds <= 0) throw new CliError('--timeout takes a positive number of seconds');
    const egress = egressPolicy();
    let status: number;
    let answer: string;
    try {
      const response = await egress.request(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'berth-notify' },
        body: Buffer.from(JSON.stringify(chatMessage(format, o.title, o.text))),
        signal: AbortSignal.timeout(seconds * 1000),
      });
      status = response.statusCode;
      answer = await response.body.text();
    } catch (error) {
      throw new CliError(`cannot post to ${url.origin}: ${(error as Error).message}`);
    } finally {
      await egress.close();
    }
    if (status < 200 || status > 299) throw new CliError(`${url.origin} answered ${status}${answer.trim() ? `: ${answer.trim().slice(0, 200)}` : ''}; the message was not posted`);
    printMessage(output, `Posted to ${url.origin} (${format}, HTTP ${status})`, { origin: url.origin, format, status });
  });
}
