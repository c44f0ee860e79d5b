import type { CompiledQuery, QueryResult } from 'kysely';

/** What runs a compiled query: a Kysely instance of any schema (or a transaction). */
export interface QueryRunner {
  executeQuery<R>(query: CompiledQuery<R>): Promise<QueryResult<R>>;
}

/** A query Kysely can compile (any select, insert, update or delete builder). */
interface Compilable<Row> {
  compile(): CompiledQuery<Row>;
}

/**
 * A query built and compiled once, then run with new arguments. Building and compiling a Kysely
 * query cost more than SQLite took to run it (a manifest GET by tag: ~40 µs to build and compile,
 * ~30 µs to run), and the pull path runs the same few queries all day. The query is built with a
 * marker for each argument; the compiled parameters that are markers are swapped for the
 * arguments on each run, the rest (constants of the query) stay. The SQL text is the dialect's
 * own, so this works on every database Kysely speaks.
 *
 * The builder must pass each argument through untouched as a parameter value (no `${arg}%`):
 * that is checked once, when the query is prepared.
 */
export class PreparedQuery<Args extends readonly unknown[], Row> {
  private readonly compiled: CompiledQuery<Row>;
  /** For each compiled parameter: the argument's index, or -1 for a constant of the query. */
  private readonly slots: number[];

  constructor(
    private readonly db: QueryRunner,
    arity: Args['length'],
    build: (...args: Args) => Compilable<Row>,
  ) {
    const markers = Array.from({ length: arity }, (_, i) => `\u0000berth-argument-${i}\u0000`);
    this.compiled = build(...(markers as unknown as Args)).compile();
    this.slots = this.compiled.parameters.map((value) => markers.indexOf(value as string));
    for (const [i, marker] of markers.entries()) {
      if (!this.slots.includes(i)) throw new Error(`prepared query: argument ${i} is not a parameter of ${this.compiled.sql}`);
      if (this.compiled.parameters.some((value) => typeof value === 'string' && value !== marker && value.includes(marker))) {
        throw new Error(`prepared query: argument ${i} is changed by the builder in ${this.compiled.sql}`);
      }
    }
  }

  async rows(...args: Args): Promise<Row[]> {
    return (await this.db.executeQuery<Row>(this.bind(args))).rows;
  }

  /** Runs it in a transaction (or on another handle of the same database). */
  async executeIn(runner: QueryRunner, ...args: Args): Promise<QueryResult<Row>> {
    return runner.executeQuery<Row>(this.bind(args));
  }

  async first(...args: Args): Promise<Row | undefined> {
    return (await this.rows(...args))[0];
  }

  private bind(args: Args): CompiledQuery<Row> {
    const constants = this.compiled.parameters;
    return { ...this.compiled, parameters: this.slots.map((slot, i) => (slot < 0 ? constants[i] : args[slot])) };
  }
}
