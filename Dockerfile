# syntax=docker/dockerfile:1.7
#
# Axle images: one Dockerfile, one target per process (docs/deploy.md).
#
#   docker build --target gateway -t ghcr.io/axle/axle-gateway:$TAG .
#   docker build --target worker  -t ghcr.io/axle/axle-worker:$TAG .
#   docker build --target runner  -t ghcr.io/axle/axle-runner:$TAG .
#   docker build --target migrate -t ghcr.io/axle/axle-migrate:$TAG .
#
# Stages: deps (npm ci) → build (SWC → dist/, Prisma client, prebuilt workflow bundle, the sandbox
# launcher) → prod-deps (npm ci --omit=dev) → runtime (slim Debian, non-root uid 10001) → one target
# per app. Only dist/, the production node_modules and package.json reach the app images; the migrate
# image carries the Prisma CLI and prisma/ instead of dist/.
#
# Node: package.json wants >= 20.19 (require(esm)); the images use Node 22 LTS on Debian 12 (bookworm).
# Pin by digest in your registry mirror if your policy asks for it (NODE_IMAGE@sha256:…).
ARG NODE_IMAGE=node:22.21.0-bookworm-slim
ARG NODE_BUILD_IMAGE=node:22.21.0-bookworm

# ---------------------------------------------------------------------------------------------
# All dependencies (the build needs the dev ones: SWC, the Prisma CLI, the Temporal bundler's webpack).
# --ignore-scripts: no package needs its install script (Prisma 7 runs without native engines, SWC
# and Temporal's core bridge ship their binaries in npm packages), and @prisma/engines' script would
# only try to download a binary Axle does not use (docs/database.md).
FROM ${NODE_BUILD_IMAGE} AS deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# ---------------------------------------------------------------------------------------------
FROM deps AS build
COPY tsconfig.json nest-cli.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
COPY libs ./libs
COPY apps ./apps
# scripts/build.mjs: prisma generate (into libs/data/src/generated, compiled with the rest), SWC to
# dist/, and the workflow bundles (dist/workflow-bundle.js, traced, and .untraced.js), so the
# worker never bundles workflows at start-up.
RUN npm run build \
  && test -f dist/workflow-bundle.js \
  && test -f dist/workflow-bundle.untraced.js \
  && test -f dist/apps/gateway/src/main.js \
  && test -f dist/apps/worker/src/main.js \
  && test -f dist/apps/runner/src/main.js
# The exec sandbox's launcher (Landlock + seccomp, libs/sandbox/src/launcher.ts) is a small C program
# the runner compiles with gcc on first use. This build image has gcc and libc6-dev, the runtime image
# does not: compile it here, so no compiler ships in the runner image (docs/exec.md "Kubernetes runner
# image"). The runner finds it by the hash of its source in <tmpdir>/axle-sandbox-<uid>/ and does
# not recompile it.
RUN node -e " \
  const { buildLauncher } = require('./dist/libs/sandbox/src/launcher.js'); \
  const built = buildLauncher('/opt/axle/launcher'); \
  if (!built.launcher) { console.error(built.problem); process.exit(1); } \
  console.log('sandbox launcher: ' + built.launcher.path);" \
  && rm -f /opt/axle/launcher/*.c

# ---------------------------------------------------------------------------------------------
FROM ${NODE_BUILD_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# ---------------------------------------------------------------------------------------------
# Shared runtime: slim Debian + Node, user axle (uid/gid 10001, no shell, no home of its own).
FROM ${NODE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 axle \
  && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin axle \
  && install -d -o 10001 -g 10001 -m 0750 /var/lib/axle
ENV NODE_ENV=production \
  AXLE_HOST=0.0.0.0 \
  AXLE_DATA_DIR=/var/lib/axle
WORKDIR /app
COPY --from=prod-deps /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./

# ---------------------------------------------------------------------------------------------
FROM runtime AS gateway
USER 10001:10001
EXPOSE 8100
CMD ["node", "dist/apps/gateway/src/main.js"]

# ---------------------------------------------------------------------------------------------
FROM runtime AS worker
USER 10001:10001
EXPOSE 8102
CMD ["node", "dist/apps/worker/src/main.js"]

# ---------------------------------------------------------------------------------------------
# The exec runner. As a non-root user it offers sandbox tier `kernel` (bubblewrap in a user
# namespace + seccomp + Landlock), never `process` (needs root) and never `none` (development only).
#   bubblewrap  the kernel tier;  util-linux  prlimit;  libc-bin  getent for granted host names;
#   RUNNER_EXTRA_PACKAGES  what your jobs run (default python3; "" for none).
# No gcc: the launcher comes precompiled from the build stage (see there). It is placed where the
# runner looks for it, /tmp/axle-sandbox-10001 (mode 0700, owned by the runner): enough for docker
# and compose. Kubernetes mounts an emptyDir on /tmp (read-only root filesystem), so k8s/ copies it
# there from /opt/axle/launcher with an init container.
FROM runtime AS runner
ARG RUNNER_EXTRA_PACKAGES=python3
RUN apt-get update \
  && apt-get install -y --no-install-recommends bubblewrap util-linux libc-bin ${RUNNER_EXTRA_PACKAGES} \
  && rm -rf /var/lib/apt/lists/*
COPY --from=build --chown=10001:10001 /opt/axle/launcher /opt/axle/launcher
RUN install -d -o 10001 -g 10001 -m 0700 /tmp/axle-sandbox-10001 \
  && cp -p /opt/axle/launcher/launch-* /tmp/axle-sandbox-10001/ \
  && chown 10001:10001 /tmp/axle-sandbox-10001/launch-*
USER 10001:10001
EXPOSE 8103
CMD ["node", "dist/apps/runner/src/main.js"]

# ---------------------------------------------------------------------------------------------
# Database migrations: `prisma migrate deploy` with prisma.config.ts and prisma/migrations. The
# Prisma CLI and the wasm schema-engine stand-in (prisma/schema-engine) are dev dependencies, so this
# image carries the full node_modules and no dist/. Run it to completion before rolling out a release.
FROM ${NODE_IMAGE} AS migrate
RUN groupadd --system --gid 10001 axle \
  && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin axle
# HOME and jiti's cache off: the CLI writes nothing outside /tmp (k8s runs it read-only).
ENV NODE_ENV=production \
  HOME=/tmp \
  JITI_FS_CACHE=false \
  CHECKPOINT_DISABLE=1 \
  PRISMA_HIDE_UPDATE_MESSAGE=1
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY package.json prisma.config.ts ./
COPY prisma ./prisma
USER 10001:10001
CMD ["node_modules/.bin/prisma", "migrate", "deploy"]
