import type { Command } from 'commander';

export type OutputFormat = 'table' | 'json';

/** Adds `-o/--output table|json` to a command (every Berth command takes it). */
export function withOutput(command: Command): Command {
  return command.option('-o, --output <format>', 'table or json', 'table');
}

export function outputFormat(options: { output?: string }): OutputFormat {
  const format = options.output ?? 'table';
  if (format !== 'table' && format !== 'json') throw new Error(`unknown output format "${format}": use table or json`);
  return format;
}

export type Column<T> = [header: string, value: (row: T) => unknown];

/** Prints rows as an aligned table (ACR's column names) or the raw data as JSON. */
export function print<T>(format: OutputFormat, data: T | T[], columns: Column<T>[]): void {
  if (format === 'json') {
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  const rows = Array.isArray(data) ? data : [data];
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
  return String(value);
}

export function printMessage(format: OutputFormat, message: string, data: unknown = { message }): void {
  if (format === 'json') process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  else process.stdout.write(`${message}\n`);
}
