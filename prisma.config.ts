// Prisma CLI configuration (Prisma 7 reads the datasource URL from here, not from schema.prisma).
import path from 'node:path';

import { defineConfig } from 'prisma/config';

// Prisma's native schema-engine binary is downloaded from a host these machines cannot reach.
// This Node script stands in for it (Prisma's wasm schema engine over @prisma/adapter-pg); see
// docs/database.md. `??=` keeps an explicitly set binary (e.g. a real one) in charge.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(
  __dirname,
  'prisma',
  'schema-engine',
  'schema-engine.mjs',
);

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    // `?? ''` lets `prisma generate` run without a database; migrate commands need the URL.
    url: process.env.DATABASE_URL ?? '',
    // Optional: migrate diff/dev create a throwaway shadow database on the main server by
    // default (needs CREATEDB); set this to use a dedicated, disposable database instead.
    shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL,
  },
});
