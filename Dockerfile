# Vicinity server image. `docker compose up` builds and runs it (docker-compose.yml);
# tests/deploy/docker.test.ts checks this file against the code and replays it without Docker.

# Build stage: the full image has the python3, make and g++ that node-gyp needs for better-sqlite3,
# hnswlib-node and the AVX2+FMA copy of hnswlib-node (and the parallel builder beside it) that the
# postinstall script compiles.
FROM node:20-bookworm AS build
WORKDIR /app
# The lock file and the postinstall script (with the addon source it compiles) first, so the dependency
# layer is rebuilt only when they change.
COPY package.json package-lock.json ./
# The client SDK is a workspace of the repository: npm ci needs its package.json (its dependencies
# are pure JavaScript; it has no install script).
COPY client/package.json client/
COPY index/native/build-fast.mjs index/native/parallel-build.cc index/native/kernels.cc index/native/search-into.inc index/native/
# Dev dependencies (typescript, eslint) are not needed at run time: tsx is a dependency.
# VICINITY_HNSW_BUILD is left unset (auto): the AVX2 build is compiled when the build machine has
# AVX2+FMA, and picked at start-up only on a CPU that has them; never native (-march=native).
RUN npm ci --omit=dev --no-audit --no-fund
COPY tsconfig.json ./
COPY server server
COPY index index
COPY storage storage
# The CLI (node bin/vicinity.mjs …), e.g. `docker compose exec vicinity node bin/vicinity.mjs keys create`,
# and the client SDK's source, which it imports.
COPY cli cli
COPY client/src client/src
COPY bin bin

FROM node:20-bookworm-slim
# No key is set here: with VICINITY_HOST=0.0.0.0 the server refuses to start until the operator
# supplies VICINITY_API_KEY or VICINITY_API_KEYS_FILE (a file mounted into the container).
ENV VICINITY_HOST=0.0.0.0 VICINITY_PORT=7373 VICINITY_DATA_DIR=/data
WORKDIR /app
# Owned by root: the server (user node) can read the app but writes only to /data.
COPY --from=build /app /app
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 7373
# Liveness only (/readyz stays 503 while indexes load). Plain HTTP: with VICINITY_TLS_CERT set, replace it.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.VICINITY_PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is the process that gets SIGTERM; it finishes requests and writes snapshots.
STOPSIGNAL SIGTERM
CMD ["node", "--import", "tsx", "server/main.ts"]
