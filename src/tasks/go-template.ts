import { RegistryError } from '../registry/errors.js';

/**
 * The part of Go's text/template (with Sprig's helpers) that ACR task files use: `{{ .A.B }}`,
 * string/number/bool literals, pipelines, `default quote squote eq ne not and or lower upper trim`,
 * `if / else if / else / end`, comments and `{{-`/`-}}` trimming. Anything else is refused when the
 * file is parsed, with its line and column, instead of surprising at run time.
 */

type Node =
  | { type: 'text'; text: string }
  | { type: 'action'; pipeline: Command[]; pos: Pos }
  | { type: 'if'; branches: Array<{ condition: Command[] | null; body: Node[] }>; pos: Pos };

type Operand = { kind: 'field'; path: string[]; pos: Pos } | { kind: 'literal'; value: unknown } | { kind: 'call'; name: string; pos: Pos };
type Command = Operand[];

interface Pos {
  line: number;
  column: number;
}

const functions: Record<string, (...args: unknown[]) => unknown> = {
  default: (fallback, value) => (empty(value) ? fallback : value),
  quote: (...values) => values.map((v) => JSON.stringify(str(v))).join(' '),
  squote: (...values) => values.map((v) => `'${str(v)}'`).join(' '),
  eq: (a, ...rest) => rest.some((b) => a === b || str(a) === str(b)),
  ne: (a, b) => !(a === b || str(a) === str(b)),
  not: (v) => empty(v),
  and: (...values) => values.find((v) => empty(v)) ?? values[values.length - 1],
  or: (...values) => values.find((v) => !empty(v)) ?? values[values.length - 1],
  lower: (v) => str(v).toLowerCase(),
  upper: (v) => str(v).toUpperCase(),
  trim: (v) => str(v).trim(),
};

function empty(value: unknown): boolean {
  return value === undefined || value === null || value === '' || value === false || value === 0;
}

function str(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

function positionOf(source: string, index: number): Pos {
  const before = source.slice(0, index).split('\n');
  return { line: before.length, column: before[before.length - 1]!.length + 1 };
}

function fail(pos: Pos, message: string): never {
  throw new RegistryError('INVALID_REQUEST', `template error at line ${pos.line}, column ${pos.column}: ${message}`);
}

export class GoTemplate {
  private readonly nodes: Node[];

  constructor(private readonly source: string) {
    this.nodes = this.parse();
  }

  /** Renders with `data` (e.g. {Run, Values, Secrets}); an unset value used as output is an error. */
  render(data: Record<string, unknown>): string {
    return this.renderNodes(this.nodes, data);
  }

  private parse(): Node[] {
    const tokens: Array<{ kind: 'text'; text: string } | { kind: 'action'; body: string; pos: Pos }> = [];
    const pattern = /\{\{(-\s)?([\s\S]*?)(\s-)?\}\}/g;
    let last = 0;
    let trimNext = false;
    for (let match = pattern.exec(this.source); match; match = pattern.exec(this.source)) {
      let text = this.source.slice(last, match.index);
      if (trimNext) text = text.replace(/^\s+/, '');
      if (match[1]) text = text.replace(/\s+$/, '');
      tokens.push({ kind: 'text', text });
      tokens.push({ kind: 'action', body: match[2]!.trim(), pos: positionOf(this.source, match.index) });
      trimNext = Boolean(match[3]);
      last = match.index + match[0].length;
    }
    let tail = this.source.slice(last);
    if (trimNext) tail = tail.replace(/^\s+/, '');
    tokens.push({ kind: 'text', text: tail });
    const unclosed = this.source.slice(last).indexOf('{{');
    if (unclosed >= 0) fail(positionOf(this.source, last + unclosed), 'unclosed action "{{"');

    let index = 0;
    const parseList = (terminators: string[]): { nodes: Node[]; end: { word: string; rest: string; pos: Pos } | null } => {
      const nodes: Node[] = [];
      while (index < tokens.length) {
        const token = tokens[index++]!;
        if (token.kind === 'text') {
          if (token.text) nodes.push({ type: 'text', text: token.text });
          continue;
        }
        const body = token.body;
        if (body.startsWith('/*')) {
          if (!body.endsWith('*/')) fail(token.pos, 'unclosed comment');
          continue;
        }
        const word = /^(\w+)\b\s*([\s\S]*)$/.exec(body);
        const keyword = word?.[1];
        if (keyword && terminators.includes(keyword)) return { nodes, end: { word: keyword, rest: word![2]!, pos: token.pos } };
        if (keyword === 'if') {
          const branches: Array<{ condition: Command[] | null; body: Node[] }> = [];
          let condition: Command[] | null = this.pipeline(word![2]!, token.pos);
          for (;;) {
            const { nodes: inner, end } = parseList(['else', 'end']);
            branches.push({ condition, body: inner });
            if (!end) fail(token.pos, '"if" without "end"');
            if (end.word === 'end') break;
            const elseIf = /^if\b\s*([\s\S]*)$/.exec(end.rest);
            condition = elseIf ? this.pipeline(elseIf[1]!, end.pos) : null;
            if (!elseIf && end.rest) fail(end.pos, `unexpected "${end.rest}" after else`);
          }
          nodes.push({ type: 'if', branches, pos: token.pos });
          continue;
        }
        if (keyword && ['range', 'with', 'define', 'template', 'block', 'else', 'end'].includes(keyword)) {
          fail(token.pos, `"${keyword}" is not supported in Berth task files`);
        }
        nodes.push({ type: 'action', pipeline: this.pipeline(body, token.pos), pos: token.pos });
      }
      return { nodes, end: null };
    };
    const { nodes } = parseList([]);
    return nodes;
  }

  private pipeline(text: string, pos: Pos): Command[] {
    if (!text.trim()) fail(pos, 'empty action');
    const commands: Command[] = [];
    for (const part of splitOutsideQuotes(text, '|', pos)) {
      const operands: Operand[] = [];
      for (const word of words(part.trim(), pos)) {
        if (word.startsWith('"')) operands.push({ kind: 'literal', value: JSON.parse(word) as string });
        else if (word.startsWith('`')) operands.push({ kind: 'literal', value: word.slice(1, -1) });
        else if (/^-?\d+(\.\d+)?$/.test(word)) operands.push({ kind: 'literal', value: Number(word) });
        else if (word === 'true' || word === 'false') operands.push({ kind: 'literal', value: word === 'true' });
        else if (word === 'nil') operands.push({ kind: 'literal', value: null });
        else if (/^(\.[A-Za-z_]\w*)+$/.test(word)) operands.push({ kind: 'field', path: word.slice(1).split('.'), pos });
        else if (word === '.') operands.push({ kind: 'field', path: [], pos });
        else if (/^[a-z]\w*$/.test(word)) {
          if (!functions[word]) fail(pos, `function "${word}" is not supported (supported: ${Object.keys(functions).join(', ')})`);
          operands.push({ kind: 'call', name: word, pos });
        } else fail(pos, `cannot parse "${word}"`);
      }
      if (operands.length === 0) fail(pos, 'empty command in pipeline');
      if (operands.length > 1 && operands[0]!.kind !== 'call') fail(pos, `"${part.trim()}" is not a function call`);
      commands.push(operands);
    }
    return commands;
  }

  private evaluate(pipeline: Command[], data: Record<string, unknown>): unknown {
    let piped: unknown;
    let hasPiped = false;
    for (const command of pipeline) {
      const [head, ...rest] = command;
      const value = (operand: Operand): unknown =>
        operand.kind === 'literal' ? operand.value : operand.kind === 'field' ? lookup(data, operand.path) : functions[operand.name]!();
      let result: unknown;
      if (head!.kind === 'call') {
        const args = rest.map(value);
        if (hasPiped) args.push(piped);
        result = functions[head!.name]!(...args);
      } else {
        if (hasPiped) fail(head!.kind === 'field' ? head!.pos : { line: 0, column: 0 }, 'only a function can take a piped value');
        result = value(head!);
      }
      piped = result;
      hasPiped = true;
    }
    return piped;
  }

  private renderNodes(nodes: Node[], data: Record<string, unknown>): string {
    let out = '';
    for (const node of nodes) {
      if (node.type === 'text') out += node.text;
      else if (node.type === 'action') {
        const value = this.evaluate(node.pipeline, data);
        if (value === undefined) {
          const field = node.pipeline.length === 1 && node.pipeline[0]!.length === 1 && node.pipeline[0]![0]!.kind === 'field' ? `.${(node.pipeline[0]![0] as { path: string[] }).path.join('.')}` : 'the expression';
          fail(node.pos, `no value for ${field} (give it with --set or --values)`);
        }
        out += str(value);
      } else {
        const branch = node.branches.find((b) => b.condition === null || !empty(this.evaluate(b.condition, data)));
        if (branch) out += this.renderNodes(branch.body, data);
      }
    }
    return out;
  }
}

function lookup(data: unknown, path: string[]): unknown {
  let current = data;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function splitOutsideQuotes(text: string, separator: string, pos: Pos): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      current += c;
      if (c === '\\' && quote === '"') current += text[++i] ?? '';
      else if (c === quote) quote = null;
    } else if (c === '"' || c === '`') {
      quote = c;
      current += c;
    } else if (c === separator) {
      parts.push(current);
      current = '';
    } else current += c;
  }
  if (quote) fail(pos, 'unterminated string');
  parts.push(current);
  return parts;
}

function words(text: string, pos: Pos): string[] {
  const result: string[] = [];
  const pattern = /"(?:[^"\\]|\\.)*"|`[^`]*`|\S+/g;
  for (const match of text.matchAll(pattern)) result.push(match[0]);
  if (text.includes('(') || text.includes(')')) fail(pos, 'parenthesised sub-expressions are not supported');
  return result;
}
