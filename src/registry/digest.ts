import { createHash, type Hash } from 'node:crypto';
import type { DigestAlgorithm } from './reference.js';

export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
}

export function newHash(algorithm: DigestAlgorithm): Hash {
  return createHash(algorithm);
}
