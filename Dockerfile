# syntax=docker/dockerfile:1.7
# Rollcall images. The build stages compile once; two small runtimes use them:
#   docker build --target mesh  -t rollcall .        # any service:  docker run rollcall serve authz
#   docker build --target agent -t rollcall-agent .  # the camera agent (needs OpenCV)
# The base is pinned to the Node release CI tests on; pin its digest too when you publish
# (docker buildx imagetools inspect node:20.20.2-bookworm-slim), via NODE_IMAGE.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
# Compilers for the native modules (faiss-node, usearch); FAISS is linked statically
# from Debian's libfaiss-dev.
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential python3 libfaiss-dev libopenblas-pthread-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
COPY scripts/faiss ./scripts/faiss
RUN npm ci --no-audit --no-fund
COPY . .
# The services only: tests and benches are not in the context, and the agent compiles in its
# own stage (its types need the OpenCV binding).
RUN printf '{"extends": "./tsconfig.json", "include": ["gen", "services"]}' > tsconfig.image.json \
 && npx tsc -p tsconfig.image.json

# The runtime's node_modules: the build's without its dev dependencies, with local packages
# (faiss-node is file:scripts/faiss/faiss-node, a symlink out of node_modules) copied in, and
# onnxruntime-node's binaries for this platform only (it ships Windows, macOS and arm64 ones too:
# 220 of its 288 MB).
FROM build AS production-modules
RUN npm prune --omit=dev --no-audit --no-fund \
 && find node_modules -maxdepth 2 -type l | while read -r link; do \
      target=$(readlink -f "$link"); \
      case $target in /src/node_modules/*) ;; *) rm "$link" && cp -a "$target" "$link" ;; esac; \
    done \
 && ort=node_modules/onnxruntime-node/bin/napi-v6 \
 && find "$ort" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + \
 && find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name "$(node -p process.arch)" -exec rm -rf {} + \
 && test -n "$(find "$ort/linux/$(node -p process.arch)" -name 'onnxruntime_binding.node')"

# The agent is its own package (agent/package.json), built against Debian's OpenCV (~5 minutes).
FROM build AS agent-build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopencv-dev \
 && rm -rf /var/lib/apt/lists/*
ENV OPENCV4NODEJS_DISABLE_AUTOBUILD=1
RUN cd agent && npm ci --omit=dev --no-audit --no-fund
RUN printf '{"extends": "./tsconfig.json", "include": ["agent"]}' > tsconfig.agent.json \
 && npx tsc -p tsconfig.agent.json
# The Debian packages of the OpenCV libraries the binding links, read off the binding itself, so
# the runtime installs exactly those (a hand-kept list missed highgui once).
RUN binding=$(find agent/node_modules/@u4/opencv4nodejs/build/Release -name '*.node' | head -1) \
 && ldd "$binding" | grep -o 'libopencv_[a-z0-9_]*\.so\.[0-9]*' | sort -u \
    | while read -r lib; do dpkg -S "*/$lib" | head -1 | cut -d: -f1; done | sort -u > /src/opencv-runtime-packages \
 && grep -q libopencv-core /src/opencv-runtime-packages

# Shared by both runtimes: a non-root user and the writable places a read-only root needs.
FROM ${NODE_IMAGE} AS base
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 rollcall \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --shell /usr/sbin/nologin rollcall \
 && mkdir -p /var/lib/rollcall /models /etc/rollcall/tls \
 && chown 10001:10001 /var/lib/rollcall
ENV NODE_ENV=production \
    ROLLCALL_HOST=0.0.0.0 \
    ROLLCALL_DATA_DIR=/var/lib/rollcall \
    ROLLCALL_MODELS_DIR=/models \
    ROLLCALL_TLS_DIR=/etc/rollcall/tls
WORKDIR /app
# /tmp and the data dir (face images, index files) are the only writes: mount them as volumes
# (emptyDir / PVC) and run with readOnlyRootFilesystem. Models and certificates are mounted read-only.
VOLUME ["/tmp", "/var/lib/rollcall"]

FROM base AS mesh
# FAISS's BLAS and OpenMP at run time (faiss-node links FAISS itself statically).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread libgomp1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build --chown=root:root /src/package.json /src/package-lock.json ./
COPY --from=production-modules --chown=root:root /src/node_modules ./node_modules
COPY --from=build --chown=root:root /src/dist ./dist
USER 10001:10001
# gRPC, /metrics + probes, the Connect gateway.
EXPOSE 50051 9464 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ROLLCALL_ADMIN_PORT||9464)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/services/main.js"]
# `serve` alone runs every service and the gateway; name one per pod: serve identity | authz | vision | attendance | audit | gateway
CMD ["serve"]

FROM base AS agent
COPY --from=agent-build /src/opencv-runtime-packages /tmp/opencv-runtime-packages
RUN apt-get update \
 && xargs -a /tmp/opencv-runtime-packages apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/opencv-runtime-packages
# The agent's code is compiled with the rest (dist/agent); its own dependencies sit beside it.
COPY --from=build --chown=root:root /src/package.json ./
COPY --from=production-modules --chown=root:root /src/node_modules ./node_modules
COPY --from=agent-build --chown=root:root /src/dist ./dist
COPY --from=agent-build --chown=root:root /src/agent/node_modules ./dist/agent/node_modules
USER 10001:10001
EXPOSE 9465
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.ROLLCALL_AGENT_METRICS_PORT||9465)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/agent/bin/rollcall-agent.js"]
