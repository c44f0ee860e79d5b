/**
 * `acr purge`'s arguments as ACR reads them: `--filter 'repoRegex:tagRegex'` and
 * `--ago [N]d[GoDuration]`. Shared by the server (which evaluates them) and the run agent (which
 * asks for the delete rights a purge step needs).
 */

/** ACR caps `--ago` at 150 years; past that a cutoff would lie before any push, so nothing is old enough. */
export const maxAgoMs = 150 * 365.25 * 86_400_000;

const goUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export class PurgeArgumentError extends Error {}

/**
 * `1d`, `2d3h6m`, `10m`, `1.5h`, `0d` → milliseconds. Summed as floating point and clamped, so a
 * huge value (`999999999d`, ACR's overflow that deleted everything) means "older than 150 years":
 * nothing.
 */
export function parseAgo(text: string): number {
  const match = /^(?:(\d+)d)?(.*)$/.exec(text.trim());
  if (!match || text.trim() === '') throw new PurgeArgumentError(`invalid --ago "${text}": use [N]d[duration], e.g. 1d, 2d3h6m, 10m`);
  let ms = match[1] !== undefined ? Number(match[1]) * 86_400_000 : 0;
  const rest = match[2]!;
  if (rest !== '') {
    const part = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gy;
    let consumed = 0;
    for (let m = part.exec(rest); m; m = part.exec(rest)) {
      ms += Number(m[1]) * goUnits[m[2]!]!;
      consumed = part.lastIndex;
    }
    if (consumed !== rest.length) throw new PurgeArgumentError(`invalid --ago "${text}": use [N]d[duration], e.g. 1d, 2d3h6m, 10m`);
  } else if (match[1] === undefined) {
    throw new PurgeArgumentError(`invalid --ago "${text}"`);
  }
  if (!Number.isFinite(ms) || ms > maxAgoMs) return maxAgoMs;
  return ms;
}

export interface PurgeFilter {
  repository: string;
  tag: string;
}

/**
 * Splits at the one `:` that is not part of a group's flags (`(?:`, `(?i:`) or a character class,
 * as acr-cli's GetRepositoryAndTagRegex does.
 */
export function parseFilter(filter: string): PurgeFilter {
  const separators: number[] = [];
  let depthClass = false;
  for (let i = 0; i < filter.length; i++) {
    const c = filter[i]!;
    if (c === '\\') {
      i++;
      continue;
    }
    if (depthClass) {
      if (c === ']') depthClass = false;
      continue;
    }
    if (c === '[') depthClass = true;
    else if (c === ':' && !/\(\?[imsU-]{0,5}$/.test(filter.slice(0, i))) separators.push(i);
  }
  if (separators.length !== 1) throw new PurgeArgumentError(`invalid --filter "${filter}": expected <repository regex>:<tag regex>`);
  const repository = filter.slice(0, separators[0]);
  const tag = filter.slice(separators[0]! + 1);
  if (repository === '') throw new PurgeArgumentError(`invalid --filter "${filter}": missing repository name/expression`);
  if (tag === '') throw new PurgeArgumentError(`invalid --filter "${filter}": missing tag name/expression`);
  return { repository, tag };
}

/** The repository part, anchored as ACR anchors it (`^…$`); JavaScript regexes (lookarounds allowed). */
export function repositoryMatcher(repositoryRegex: string): RegExp {
  // Repository names are lowercase by the spec, so `YourApp` (seed 000, as ACR users write it) selects `yourapp`.
  return compile(`^(?:${repositoryRegex})$`, repositoryRegex, 'i');
}

/** The tag parts of every filter naming one repository, OR'ed; unanchored, as in acr-cli. */
export function tagMatcher(tagRegexes: string[]): RegExp {
  return compile(tagRegexes.map((t) => `(?:${t})`).join('|'), tagRegexes.join('|'));
}

function compile(source: string, shown: string, flags = ''): RegExp {
  try {
    return new RegExp(source, flags);
  } catch (error) {
    throw new PurgeArgumentError(`invalid regular expression "${shown}": ${(error as Error).message}`);
  }
}

/** The repository regexes a purge command line names (for the run token's delete rights). */
export function purgeRepositoryRegexes(words: string[]): string[] {
  const regexes: string[] = [];
  let untaggedOnly = false;
  for (let i = 0; i < words.length; i++) {
    if (words[i] === '--filter' || words[i] === '-f') {
      try {
        regexes.push(parseFilter(words[++i] ?? '').repository);
      } catch {
        // the server reports it
      }
    } else if (words[i]!.startsWith('--filter=')) {
      try {
        regexes.push(parseFilter(words[i]!.slice('--filter='.length)).repository);
      } catch {
        // the server reports it
      }
    } else if (words[i] === '--untagged-only') untaggedOnly = true;
  }
  return regexes.length === 0 && untaggedOnly ? ['.*'] : regexes;
}
