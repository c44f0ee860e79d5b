import type { Command } from 'commander';
import { search } from '@jmespath-community/jmespath';
import { stringify as toYaml } from 'yaml';
import { invocation } from './invocation.js';

export const outputFormats = ['json', 'jsonc', 'yaml', 'table', 'tsv', 'none'] as const;
export type OutputFormat = (typeof outputFormats)[number];

/** Adds az's `-o/--output`, `--query` and `-r/--registry` to a command (every Berth command takes them). */
export function withOutput(command: Command): Command {
  return command
    .option('-o, --output <format>', `${outputFormats.join(', ')}`, 'table')
    .option('--query <jmespath>', 'JMESPath query over the JSON answer (as az --query)')
    .option('-r, --registry <name>', 'a logged-in registry by name or host (default: the current login)');
}

export function outputFormat(options: { output?: string }): OutputFormat {
  const format = options.output ?? 'table';
  if (!(outputFormats as readonly string[]).includes(format)) throw new Error(`unknown output format "${format}": use ${outputFormats.join(', ')}`);
  return format as OutputFormat;
}

/** True for the formats that print data rather than a human table or message. */
export function isDataFormat(format: OutputFormat): boolean {
  return format !== 'table' && format !== 'none';
}

export type Column<T> = [header: string, value: (row: T) => unknown];

/**
 * Prints rows as an aligned table (ACR's column names) or the data in a machine format. With
 * `--query` the query's result is what is printed, in any format, as az does.
 */
export function print<T>(format: OutputFormat, data: T | T[], columns: Column<T>[]): void {
  if (format === 'none') return;
  const query = invocation().query;
  if (query !== undefined) return printData(format, runQuery(query, data));
  if (format !== 'table') return printData(format, data);
  printTable(Array.isArray(data) ? data : [data], columns);
}

export function printMessage(format: OutputFormat, message: string, data: unknown = { message }): void {
  if (format === 'none') return;
  const query = invocation().query;
  if (query !== undefined) return printData(format, runQuery(query, data));
  if (format === 'table') process.stdout.write(`${message}\n`);
  else printData(format, data);
}

function runQuery(query: string, data: unknown): unknown {
  try {
    return search(JSON.parse(JSON.stringify(data ?? null)) as never, query);
  } catch (error) {
    throw new Error(`invalid --query "${query}": ${(error as Error).message}`);
  }
}

function printData(format: OutputFormat, data: unknown): void {
  switch (format) {
    case 'json':
    case 'jsonc':
      process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
      return;
    case 'yaml':
      process.stdout.write(toYaml(data ?? null));
      return;
    case 'tsv':
      for (const line of tsvLines(data)) process.stdout.write(`${line}\n`);
      return;
    case 'table':
      return printQueriedTable(data);
    case 'none':
      return;
  }
}

/** az's tsv: one line per list item, an object's values in order, a scalar as is; no headers. */
function tsvLines(data: unknown): string[] {
  if (data === null || data === undefined) return [];
  if (Array.isArray(data)) return data.map((item) => tsvRow(item));
  return [tsvRow(data)];
}

function tsvRow(value: unknown): string {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.values(value).filter((v) => v === null || typeof v !== 'object').map(tsvCell).join('\t');
  }
  if (Array.isArray(value)) return value.map(tsvCell).join('\t');
  return tsvCell(value);
}

function tsvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** A table of whatever a query returned: objects by their keys, anything else under "Result". */
function printQueriedTable(data: unknown): void {
  const rows = Array.isArray(data) ? data : [data];
  if (rows.length > 0 && rows.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) {
    const keys = [...new Set(rows.flatMap((r) => Object.keys(r as object)))];
    printTable(rows as Array<Record<string, unknown>>, keys.map((k) => [k, (row: Record<string, unknown>) => row[k]]));
    return;
  }
  printTable(rows, [['Result', (row) => row]]);
}

function printTable<T>(rows: T[], columns: Column<T>[]): void {
  const cells = rows.map((row) => columns.map(([, value]) => formatCell(value(row))));
  const headers = columns.map(([h]) => h);
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (values: string[]): string => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${line(headers)}\n${line(widths.map((w) => '-'.repeat(w)))}\n`);
  for (const row of cells) process.stdout.write(`${line(row)}\n`);
}

function formatCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}
