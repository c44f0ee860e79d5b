import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Agent, Dispatcher, Response } from 'undici';

// Loaded on first use: undici takes a noticeable part of start-up, and many servers never import or post a webhook.
let undici: Promise<typeof import('undici')> | null = null;
const loadUndici = () => (undici ??= import('undici'));

/**
 * Addresses no request made on a user's behalf may reach, whatever the configuration adds
 * (`egress.allow` can still open one on purpose). Each is either never a registry or webhook
 * receiver, or a way into the machine's own credentials.
 */
export const defaultEgressDeny: ReadonlyArray<{ range: string; why: string }> = [
  { range: '169.254.0.0/16', why: 'IPv4 link-local: cloud instance metadata (AWS, GCP, Azure, OpenStack at 169.254.169.254; ECS at 169.254.170.2) hands out machine credentials' },
  { range: 'fe80::/10', why: 'IPv6 link-local' },
  { range: 'fd00:ec2::254/128', why: 'AWS instance metadata over IPv6' },
  { range: '100.100.100.200/32', why: 'Alibaba Cloud instance metadata' },
  { range: '168.63.129.16/32', why: "Azure's WireServer (the platform agent's endpoint)" },
  { range: '0.0.0.0/8', why: '"this network": 0.0.0.0 reaches the local machine on Linux, past a loopback deny' },
  { range: '::/128', why: 'the unspecified IPv6 address (as 0.0.0.0)' },
  { range: '224.0.0.0/4', why: 'IPv4 multicast, never an HTTP server' },
  { range: '240.0.0.0/4', why: 'IPv4 reserved and broadcast' },
  { range: 'ff00::/8', why: 'IPv6 multicast' },
];

/** Redirects followed at most (a blob GET typically takes one, to its storage). */
export const maxRedirects = 5;

/** The `code` of every refusal, so callers can tell a policy refusal from a network error. */
export const egressDeniedCode = 'EGRESS_DENIED';

export class EgressDeniedError extends Error {
  readonly code = egressDeniedCode;
  constructor(message: string) {
    super(message);
    this.name = 'EgressDeniedError';
  }
}

export interface EgressRules {
  /** CIDRs, single addresses or host names (`name`, `*.domain`), on top of the default deny. */
  deny: string[];
  /** Exceptions to every deny, default ones included; same forms. */
  allow: string[];
}

type Rule = { kind: 'cidr'; text: string; range: [ipaddr.IPv4 | ipaddr.IPv6, number] } | { kind: 'host'; text: string; name: string; subdomains: boolean };

/** Parses one rule; throws with the entry named when it is neither a CIDR, an address nor a host name. */
function parseRule(entry: string): Rule {
  const text = entry.trim().toLowerCase();
  const cidr = text.includes('/') ? text : ipaddr.IPv4.isValidFourPartDecimal(text) ? `${text}/32` : ipaddr.IPv6.isValid(text) ? `${text}/128` : null;
  if (cidr !== null) {
    const [base] = cidr.split('/');
    const fourPart = ipaddr.IPv4.isValidCIDRFourPartDecimal(cidr);
    if (!fourPart && !(ipaddr.IPv6.isValidCIDR(cidr) && ipaddr.IPv6.isValid(base!))) throw new Error(`invalid egress rule "${entry}": not a CIDR`);
    return { kind: 'cidr', text, range: ipaddr.parseCIDR(cidr) };
  }
  const subdomains = text.startsWith('*.');
  const name = subdomains ? text.slice(2) : text;
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(name)) {
    throw new Error(`invalid egress rule "${entry}": use a CIDR (10.0.0.0/8), an address, a host name or *.domain`);
  }
  return { kind: 'host', text, name, subdomains };
}

/** Checks every entry (for the settings); throws on the first invalid one. */
export function validateEgressRules(entries: string[]): string[] {
  for (const entry of entries) parseRule(entry);
  return entries;
}

function hostMatches(rule: Extract<Rule, { kind: 'host' }>, hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  return rule.subdomains ? host.endsWith(`.${rule.name}`) : host === rule.name;
}

function addressMatches(rule: Extract<Rule, { kind: 'cidr' }>, address: ipaddr.IPv4 | ipaddr.IPv6): boolean {
  return address.kind() === rule.range[0].kind() && address.match(rule.range);
}

/** Strips IPv6 brackets and maps IPv4-mapped IPv6 (::ffff:a.b.c.d) to IPv4, so rules cannot be dodged by notation. */
function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  return ipaddr.isValid(bare) ? ipaddr.process(bare) : null;
}

type RedirectMode =
  /** Registry API calls and token realms: redirects only within the origin asked. */
  | 'same-origin'
  /** Blob GETs, tarballs, alias files: any origin the policy allows, credentials dropped once the origin changes. */
  | 'any-origin';

export interface EgressFetchInit {
  method?: 'GET' | 'HEAD';
  headers?: Record<string, string>;
  signal?: AbortSignal;
  redirect: RedirectMode;
}

const credentialHeaders = ['authorization', 'cookie', 'proxy-authorization'];

/**
 * The one way Berth reaches out on a user's behalf (import, token realms, webhooks, task
 * sources): http/https only, every address checked at connect time against the policy (after
 * name resolution, so DNS rebinding cannot dodge it), redirects followed by hand.
 */
export class EgressPolicy {
  private readonly deny: Rule[];
  private readonly allow: Rule[];
  private agent: Promise<Agent> | null = null;

  constructor(rules: EgressRules = { deny: [], allow: [] }) {
    this.deny = [...defaultEgressDeny.map((d) => d.range), ...rules.deny].map(parseRule);
    this.allow = rules.allow.map(parseRule);
  }

  /** The dispatcher every outbound request goes through: its connector checks each address. */
  private dispatcher(): Promise<Agent> {
    this.agent ??= loadUndici().then(({ Agent, buildConnector }) => {
      const connect = buildConnector({ lookup: this.lookup });
      return new Agent({
        connect: (options, callback) => {
          // Names are checked in `lookup`; a literal address never reaches it, so it is checked here.
          const host = options.hostname.replace(/^\[|\]$/g, '');
          const why = isIP(host) ? this.refusal(host, host) : this.hostRefusal(host);
          if (why) return void callback(new EgressDeniedError(why), null);
          return connect(options, callback);
        },
      });
    });
    return this.agent;
  }

  /** Why a connection to `address` (resolved from `hostname`) is refused, or null when it is allowed. */
  refusal(hostname: string, address: string): string | null {
    const parsed = parseAddress(address);
    const host = hostname.replace(/^\[|\]$/g, '');
    const named = isIP(host) ? host : `${host} (${address})`;
    if (this.allow.some((r) => (r.kind === 'host' ? hostMatches(r, host) : parsed !== null && addressMatches(r, parsed)))) return null;
    const rule = this.deny.find((r) => (r.kind === 'host' ? hostMatches(r, host) : parsed !== null && addressMatches(r, parsed)));
    return rule ? `${named} is refused by the egress policy (matches ${rule.text}; see egress.deny / BERTH_EGRESS_DENY)` : null;
  }

  /** The part of the policy that needs no name resolution: the scheme, literal addresses, host-name rules. */
  checkUrl(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new EgressDeniedError(`only http and https URLs are fetched, not ${url.protocol}`);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const why = isIP(host) ? this.refusal(host, host) : this.hostRefusal(host);
    if (why) throw new EgressDeniedError(why);
  }

  /**
   * A GET (or HEAD) through the policy. Redirects (at most {@link maxRedirects}) are followed by hand:
   * 'same-origin' refuses any that leaves the first origin; 'any-origin' follows them but sends
   * no Authorization or Cookie once the origin changed. An https → http redirect is refused.
   */
  async fetch(url: string | URL, init: EgressFetchInit): Promise<Response> {
    const first = new URL(url);
    const [{ fetch: undiciFetch }, dispatcher] = await Promise.all([loadUndici(), this.dispatcher()]);
    let current = first;
    let headers = { ...init.headers };
    for (let hop = 0; ; hop++) {
      this.checkUrl(current);
      let response: Response;
      try {
        response = await undiciFetch(current, { method: init.method ?? 'GET', headers, redirect: 'manual', dispatcher, ...(init.signal ? { signal: init.signal } : {}) });
      } catch (error) {
        // fetch wraps a refusal at connect time in "fetch failed"; the refusal is the news.
        throw egressRefusal(error) ?? error;
      }
      const location = response.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(response.status) || location === null) return response;
      await response.body?.cancel().catch(() => undefined);
      if (hop >= maxRedirects) throw new EgressDeniedError(`more than ${maxRedirects} redirects from ${first.origin}`);
      let next: URL;
      try {
        next = new URL(location, current);
      } catch {
        throw new EgressDeniedError(`${current.origin} redirected to an invalid URL`);
      }
      if (next.protocol !== 'http:' && next.protocol !== 'https:') throw new EgressDeniedError(`${current.origin} redirected to a ${next.protocol} URL`);
      if (current.protocol === 'https:' && next.protocol === 'http:') throw new EgressDeniedError(`${current.origin} redirected from https to http (${next.origin}); refused`);
      if (next.origin !== first.origin) {
        if (init.redirect === 'same-origin') throw new EgressDeniedError(`${first.origin} redirected to another origin (${next.origin}); only blob downloads may leave the registry's origin`);
        headers = Object.fromEntries(Object.entries(headers).filter(([name]) => !credentialHeaders.includes(name.toLowerCase())));
      }
      current = next;
    }
  }

  /** One request as given (no redirects followed; headers sent as they are), through the policy. */
  async request(url: URL, options: { method: 'POST'; headers: Record<string, string>; body: Buffer; signal: AbortSignal }): Promise<Dispatcher.ResponseData> {
    this.checkUrl(url);
    const [{ request }, dispatcher] = await Promise.all([loadUndici(), this.dispatcher()]);
    return request(url, { ...options, dispatcher });
  }

  async close(): Promise<void> {
    if (this.agent) await (await this.agent).close();
  }

  private hostRefusal(hostname: string): string | null {
    if (this.allow.some((r) => r.kind === 'host' && hostMatches(r, hostname))) return null;
    const rule = this.deny.find((r) => r.kind === 'host' && hostMatches(r, hostname));
    return rule ? `${hostname} is refused by the egress policy (matches ${rule.text}; see egress.deny / BERTH_EGRESS_DENY)` : null;
  }

  /** net.connect's lookup: resolves as usual, keeps only allowed addresses, fails when none is left. */
  private readonly lookup: LookupFunction = (hostname, options, callback) => {
    const why = this.hostRefusal(hostname);
    if (why) return void callback(new EgressDeniedError(why), '', 0);
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return void callback(error, '', 0);
      const allowed = addresses.filter((a) => this.refusal(hostname, a.address) === null);
      if (allowed.length === 0) {
        return void callback(new EgressDeniedError(this.refusal(hostname, addresses[0]?.address ?? '') ?? `${hostname} has no address`), '', 0);
      }
      // net asks for every address (all: true) when it tries them in turn (happy eyeballs).
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      else callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  };
}

/** The policy refusal behind a failed request (fetch wraps connect errors in `cause`), or null. */
export function egressRefusal(error: unknown): EgressDeniedError | null {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof EgressDeniedError || (e as { code?: unknown }).code === egressDeniedCode) return e as EgressDeniedError;
  }
  return null;
}
