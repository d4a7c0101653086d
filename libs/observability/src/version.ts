import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | null = null;

/**
 * Axle's version: the root package.json's, found upwards from this file (it runs from libs/ under
 * tsc-free tests, and from dist/libs/ once built; images copy package.json).
 */
export function axleVersion(): string {
  if (cached) return cached;
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
    if (pkg.name === 'axle' && pkg.version) return (cached = pkg.version);
  }
  return (cached = '0.0.0');
}
