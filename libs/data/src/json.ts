import { type Prisma } from './generated/prisma/client';

/** Values stored in Json columns; null/undefined become "not set". */
export function json(value: unknown): Prisma.InputJsonValue | undefined {
  return value === null || value === undefined ? undefined : value;
}
