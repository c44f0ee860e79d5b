import type { Server } from 'node:http';

/**
 * Closes a test's HTTP server and every connection it holds: a kept-alive connection would
 * otherwise hold `close` open, and the test with it. Resolves when the server has closed.
 */
export function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  return closed;
}
