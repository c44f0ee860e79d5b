import { DockerfileParser } from 'dockerfile-ast';
import { formatImageReference, normalizeImageReference, type ImageReference } from './image-reference.js';

export { normalizeImageReference, formatImageReference, type ImageReference } from './image-reference.js';

export interface DockerfileScanOptions {
  /** `--build-arg` values: they override the defaults of the global ARGs they name. */
  buildArgs?: Record<string, string>;
  /** `--target`: stages after it are not built, so they are not bases. */
  target?: string | null;
}

export interface DockerfileBases {
  /** The origin of the last stage built, followed through aliases; null for `scratch` (or unknown). */
  runtime: ImageReference | null;
  /** Every other stage's image origin, once each, never the runtime base again. */
  buildtime: ImageReference[];
  /**
   * FROM lines that name no image this scan can know (an ARG without a value, a malformed
   * reference, a missing --target stage). They are skipped, not fatal: the engine is the judge of
   * the build, and the other stages' bases are still worth knowing.
   */
  problems: string[];
}

type Origin = { image: ImageReference } | { stage: number } | { scratch: true } | { unknown: true };

/**
 * The images a Dockerfile builds FROM, read with a maintained parser (BOM, comments, line
 * continuations and the `escape` directive as the engine reads them). Only global ARGs (before
 * the first FROM) are visible to FROM lines, and a build arg counts only when such an ARG
 * declares it: the engine's own rules, so the bases found are the ones it uses.
 */
export function scanDockerfileBases(text: string, options: DockerfileScanOptions = {}): DockerfileBases {
  const dockerfile = DockerfileParser.parse(text);
  const escape = dockerfile.getEscapeCharacter();
  const buildArgs = options.buildArgs ?? {};
  const problems: string[] = [];
  const scope = new Map<string, string | undefined>();
  for (const arg of dockerfile.getInitialARGs()) {
    const property = arg.getProperty();
    if (!property) continue;
    const name = property.getName();
    const declared = property.getValue();
    const fallback = declared === null ? undefined : substitute(declared, scope, escape).value;
    scope.set(name, Object.hasOwn(buildArgs, name) ? buildArgs[name] : fallback);
  }

  const froms = dockerfile.getFROMs();
  if (froms.length === 0) return { runtime: null, buildtime: [], problems: ['the Dockerfile has no FROM instruction'] };
  const stageNames = new Map<string, number>();
  const origins: Origin[] = [];
  let last = froms.length - 1;
  const target = options.target?.toLowerCase() ?? null;
  for (const [index, from] of froms.entries()) {
    const line = from.getRange().start.line + 1;
    const words = from.getArguments().map((a) => a.getValue());
    const raw = words[0] ?? '';
    const { value, unset } = substitute(raw, scope, escape);
    const image = value.trim();
    // Stage names are case-insensitive to the engine; a later FROM may use one as its base.
    const alias = words.length >= 3 && words[1]!.toLowerCase() === 'as' ? words[2]!.toLowerCase() : null;
    if (image.toLowerCase() === 'scratch') origins.push({ scratch: true });
    else if (stageNames.has(image.toLowerCase())) origins.push({ stage: stageNames.get(image.toLowerCase())! });
    else if (unset.length > 0) {
      problems.push(`FROM on line ${line} (${raw}): ${unset.map((n) => `$${n}`).join(', ')} ${unset.length > 1 ? 'have' : 'has'} no value (no ARG default before the first FROM and no build arg)`);
      origins.push({ unknown: true });
    } else {
      try {
        origins.push({ image: normalizeImageReference(image) });
      } catch (error) {
        problems.push(`FROM on line ${line}: ${(error as Error).message}`);
        origins.push({ unknown: true });
      }
    }
    if (alias) stageNames.set(alias, index);
    if (target !== null && alias === target) {
      last = index;
      break;
    }
  }
  if (target !== null && origins.length === froms.length && !stageNames.has(target)) {
    return { runtime: null, buildtime: [], problems: [...problems, `the Dockerfile has no stage named "${options.target}" (--target)`] };
  }

  const resolve = (index: number): ImageReference | null => {
    let origin = origins[index]!;
    // Aliases only point backwards, so this ends.
    while ('stage' in origin) origin = origins[origin.stage]!;
    return 'image' in origin ? origin.image : null;
  };
  const runtime = resolve(last);
  const seen = new Set(runtime ? [formatImageReference(runtime)] : []);
  const buildtime: ImageReference[] = [];
  for (const origin of origins.slice(0, last + 1)) {
    if (!('image' in origin)) continue;
    const key = formatImageReference(origin.image);
    if (seen.has(key)) continue;
    seen.add(key);
    buildtime.push(origin.image);
  }
  return { runtime, buildtime, problems };
}

/**
 * The engine's word expansion for FROM: `$X`, `${X}`, `${X:-word}`, `${X-word}`, `${X:+word}`,
 * `${X+word}`; the escape character keeps a `$` literal. Returns the names that had no value
 * (the engine would put nothing there, which never names the image meant).
 */
function substitute(text: string, scope: Map<string, string | undefined>, escape: string): { value: string; unset: string[] } {
  const unset: string[] = [];
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === escape && text[i + 1] === '$') {
      out += '$';
      i++;
      continue;
    }
    if (c !== '$') {
      out += c;
      continue;
    }
    if (text[i + 1] === '{') {
      const close = text.indexOf('}', i + 2);
      if (close < 0) {
        out += text.slice(i);
        break;
      }
      const body = text.slice(i + 2, close);
      i = close;
      const match = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-+])(.*))?$/s.exec(body);
      if (!match) {
        unset.push(body);
        continue;
      }
      const [, name, operator, word = ''] = match;
      const value = scope.get(name!);
      const isSet = value !== undefined;
      const nonEmpty = isSet && value !== '';
      const expandedWord = () => {
        const inner = substitute(word, scope, escape);
        unset.push(...inner.unset);
        return inner.value;
      };
      if (operator === ':-') out += nonEmpty ? value : expandedWord();
      else if (operator === '-') out += isSet ? value : expandedWord();
      else if (operator === ':+') out += nonEmpty ? expandedWord() : '';
      else if (operator === '+') out += isSet ? expandedWord() : '';
      else if (isSet) out += value;
      else unset.push(name!);
      continue;
    }
    const match = /^[A-Za-z_][A-Za-z0-9_]*/.exec(text.slice(i + 1));
    if (!match) {
      out += c;
      continue;
    }
    i += match[0].length;
    const value = scope.get(match[0]);
    if (value === undefined) unset.push(match[0]);
    else out += value;
  }
  return { value: out, unset };
}
