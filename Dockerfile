# lance-e5 server image.
#   docker build -t lance-e5 .
#   docker run -p 8080:8080 -v lance-e5-data:/data -e LANCE_E5_API_KEYS=secret1 lance-e5
# README "Scale-out" has the full run lines (own model, ingest, several servers on one volume).
# test/docker.test.ts checks this file: every COPY source and command exists, lint, and the CMD and HEALTHCHECK
# run against a real `lance-e5 serve` on the host.

# Node 20 line, matching package.json engines (>=20.19).
ARG NODE_VERSION=20.20

# --- stage 1: production dependencies ---------------------------------------------------------------------------
FROM node:${NODE_VERSION}-slim AS deps
WORKDIR /app
# onnxruntime-node's install script downloads CUDA libraries (and fails without network); its CPU runtime is
# already in the package. package.json's "allowScripts" says the same to npm versions that read it; npm 10 in
# this base image does not, so the environment variable does.
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
# No devDependencies (biome, typescript, benchmarks' peers). tsx is a runtime dependency: the CLI is TypeScript
# run through its loader, with no build step. ONNX Runtime ships binaries for every platform; this image is
# Linux, so the macOS and Windows ones go.
RUN npm ci --omit=dev --no-audit --no-fund \
 && find node_modules -type d -path "*/onnxruntime-node/bin/*" \( -name darwin -o -name win32 \) -prune -exec rm -rf {} + \
 && npm cache clean --force

# --- stage 2: runtime ---------------------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-slim AS runtime
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    LANCE_E5_DB=/data/lancedb \
    LANCE_E5_PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY plugins ./plugins
COPY schemas ./schemas
# The shipped default model (models/default, 23 MB); mount another one at /models and set LANCE_E5_MODEL.
COPY models ./models
# The app stays root-owned and read-only; the server runs as the base image's unprivileged "node" user, which
# owns only the data and model mount points.
RUN mkdir -p /data /models && chown node:node /data /models
USER node
VOLUME ["/data", "/models"]
EXPOSE 8080
# node:*-slim has no curl or wget; Node 20's fetch does the probe. /health needs no API key. Loading the model
# gets interval x retries = 90 s; a large model wants `docker run --health-start-period=5m` (no --start-period
# here: dockerfilelint 1.8 misreads hyphenated HEALTHCHECK options).
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.LANCE_E5_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, so the server is PID 1 and gets SIGTERM from `docker stop`: it drains in-flight requests, then exits.
ENTRYPOINT ["node", "bin/lance-e5.js"]
CMD ["serve", "--host", "0.0.0.0"]
