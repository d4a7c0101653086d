#!/usr/bin/env node
// Compiles apps/, libs/ and test/ from TypeScript to CommonJS in dist/ with SWC (type checking is
// `npm run typecheck`), copies the .proto files of libs/ beside it, generates the Prisma client when
// the schema changed, and prebuilds the Temporal workflow bundle the worker loads. Path aliases from tsconfig.json are rewritten here, so
// dist/ runs with plain `node` and the workflow bundler needs no alias configuration.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const started = Date.now();

function generatePrismaClient() {
  const schema = join(root, 'prisma/schema.prisma');
  const stamp = join(root, 'libs/data/src/generated/.schema-stamp');
  const current = readFileSync(schema, 'utf8');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === current) return;
  execFileSync(join(root, 'node_modules/.bin/prisma'), ['generate'], { cwd: root, stdio: 'inherit' });
  writeFileSync(stamp, current);
}

function filesEndingWith(suffix, dir, out = []) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) filesEndingWith(suffix, path, out);
    else if (name.endsWith(suffix) && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** The .proto files of libs/ go beside the compiled code, where @axle/protocol finds them. */
function copyProtos() {
  for (const file of filesEndingWith('.proto', join(root, 'libs'))) {
    const out = join(root, 'dist', relative(root, file));
    mkdirSync(dirname(out), { recursive: true });
    copyFileSync(file, out);
  }
}

async function compile() {
  const swc = require('@swc/core');
  const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
  const files = ['apps', 'libs', 'test']
    .filter((d) => existsSync(join(root, d)))
    .flatMap((d) => filesEndingWith('.ts', join(root, d)));
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  await Promise.all(
    files.map(async (file) => {
      const out = join(root, 'dist', relative(root, file)).replace(/\.ts$/, '.js');
      const { code, map } = await swc.transformFile(file, {
        swcrc: false,
        sourceMaps: true,
        module: { type: 'commonjs', strictMode: true },
        jsc: {
          target: 'es2022',
          keepClassNames: true,
          baseUrl: root,
          paths: tsconfig.compilerOptions.paths,
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
        },
      });
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, `${code}\n//# sourceMappingURL=${out.split('/').pop()}.map\n`);
      if (map) writeFileSync(`${out}.map`, map);
    }),
  );
  return files.length;
}

async function bundleWorkflows() {
  const { bundleWorkflowCode } = require('@temporalio/worker');
  const workflowsPath = join(root, 'dist/libs/orchestration/src/workflows/index.js');
  // The interceptor modules a worker that bundles at start uses (libs/orchestration): with
  // OpenTelemetry's for a worker with tracing on, without for one with tracing off.
  const { workflowInterceptorModules, workflowBundlePath } = require(
    join(root, 'dist/libs/orchestration/src/workflow-interceptors.js'),
  );
  for (const traced of [true, false]) {
    const { code } = await bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: workflowInterceptorModules(traced),
      logger: { info() {}, warn: console.warn, error: console.error, debug() {}, trace() {}, log() {} },
    });
    writeFileSync(workflowBundlePath(traced), code);
  }
}

try {
  generatePrismaClient();
  const count = await compile();
  copyProtos();
  await bundleWorkflows();
  console.log(`build: ${count} files compiled and workflows bundled in ${Date.now() - started} ms`);
} catch (err) {
  console.error('build failed:', err instanceof Error ? err.message : err);
  process.exit(1);
}
