import { isatty } from 'node:tty';
import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';

/** `auto`: readable lines on a terminal, JSON lines otherwise (a pipe, a file, a log collector). */
export const logFormats = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof logFormats)[number];

export function isLogFormat(value: string): value is LogFormat {
  return (logFormats as readonly string[]).includes(value);
}

/** The format actually written: a forced one wins; `auto` is pretty exactly when the log goes to a terminal. */
export function chooseLogFormat(format: LogFormat, terminal: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (terminal ? 'pretty' : 'json') : format;
}

export interface LogOutputOptions {
  level: string;
  format: LogFormat;
  /** A file descriptor (1 for the server, 2 for the agent) or a file path. Default 1. */
  destination?: number | string;
}

/** pino's options and the stream to give it: JSON lines through pino's own destination, or pino-pretty. */
export function logOutput(options: LogOutputOptions): { options: LoggerOptions; stream: DestinationStream; format: 'json' | 'pretty' } {
  const destination = options.destination ?? 1;
  const terminal = typeof destination === 'number' && isatty(destination);
  const format = chooseLogFormat(options.format, terminal);
  const stream =
    format === 'pretty'
      ? pretty({ destination, sync: true, colorize: terminal, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true })
      : pino.destination({ dest: destination, sync: false });
  return { options: { level: options.level }, stream, format };
}

/** Fastify's `logger` option for the server: its log on stdout, in the chosen format. */
export function serverLoggerOptions(settings: { logLevel: string; logFormat: LogFormat }): LoggerOptions & { stream: DestinationStream } {
  const { options, stream } = logOutput({ level: settings.logLevel, format: settings.logFormat, destination: 1 });
  return { ...options, stream };
}

/** A logger of its own (the `berth agent` process), with fields every line carries. */
export function createLogger(options: LogOutputOptions & { base?: Record<string, unknown> }): Logger {
  const { options: pinoOptions, stream } = logOutput(options);
  const logger = pino(pinoOptions, stream);
  return options.base ? logger.child(options.base) : logger;
}
