# syntax=docker/dockerfile:1
# The sluice server image: what every VM (infra/components/vm-boot.ts: docker run --init --network host)
# and every GKE pod (infra/gke/workload.ts) runs. Built by .github/workflows/deploy.yml (job `image`),
# which pushes it to Artifact Registry and hands the pushed digest to the rollout; built and drained for
# real on podman by test/container/image.test.ts.
#
# BASE: the official Node 20 image pinned by its index digest (a rebuild gets the same base; a moved
# tag cannot change it). Override with --build-arg BASE=... (the container test builds on a local
# stand-in, localhost/node-base:20, made by .ci/node-base.sh). Bump the digest by a reviewed edit:
#   docker buildx imagetools inspect node:20-bookworm-slim   (the "Digest:" line)
ARG BASE=node:20-bookworm-slim@sha256:2cf067cfed83d5ea958367df9f966191a942351a2df77d6f0193e162b5febfc0

# 1. build: every dependency (the bundler is a devDependency), then `npm run build`: esbuild bundles the
#    server and the token CLI into dist/ with the production dependencies they import, nothing else.
FROM ${BASE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY app ./app
RUN npm run build

# 2. runtime: the base, the bundle, a non-root user. No node_modules, no sources, no npm cache, no secret:
#    the token secret, admin token and Redis URL arrive as environment at `docker run` (Secret Manager,
#    read by the VM's prestart; a Kubernetes Secret on GKE).
FROM ${BASE}
# NODE_OPTIONS: the V8 heap limit derived from the default memory budget (app/contract/memory.ts
# heapNodeOptions(), 256 MiB -> 480 MiB of old space; test/contract/memory.test.ts keeps this line equal
# to it). The GCE unit's env file and the GKE pod's env set it again for their budget; the server
# refuses to start in production with a heap limit that does not match its budget (app/server/heap.ts).
ENV NODE_ENV=production \
    SLUICE_ENV=production \
    NODE_OPTIONS=--max-old-space-size=480
WORKDIR /app
COPY --from=build --chown=root:root /src/dist ./dist
COPY --from=build --chown=root:root /src/package.json ./package.json
# uid 1000 is the `node` user of the official image (and of the stand-in base).
USER 1000:1000
EXPOSE 4000
# Exec form: node itself receives SIGTERM from `docker stop` and drains (app/server/shutdown.ts); the
# VM unit adds --init so a tiny init is PID 1 and forwards it.
ENTRYPOINT ["node", "--enable-source-maps", "dist/server.js"]
