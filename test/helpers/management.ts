import { basicAuth, fetchOnce, type Credentials } from './oci-client.js';

/** Calls the management API as `credentials` and returns status and parsed body. */
export async function api<T = unknown>(base: string, credentials: Credentials | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = {};
  if (credentials) headers.Authorization = basicAuth(credentials);
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetchOnce(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

export interface CreatedToken {
  name: string;
  credentials: { passwords: Array<{ name: string; value?: string }> };
}

export function tokenPassword(token: CreatedToken, slot = 'password1'): string {
  const value = token.credentials.passwords.find((p) => p.name === slot)?.value;
  if (!value) throw new Error(`token ${token.name} has no ${slot} value`);
  return value;
}
