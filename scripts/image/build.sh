#!/usr/bin/env bash
# Builds Rollcall's images without a Docker daemon (podman/buildah) on a machine that cannot pull
# base images: the Dockerfile's FROM (node:<version>-bookworm-slim) is stood in for by a local
# image made from Debian bookworm (debootstrap, Debian's mirror) plus this machine's Node: its
# binary, npm, headers (native modules compile without downloading them) and CA bundle (npm
# through this machine's TLS setup). Then each target is built and smoke-run.
#
#   sudo apt-get install -y podman buildah debootstrap runc
#   scripts/image/build.sh [mesh|agent ...]      # default: mesh
#
# Environment: ROLLCALL_IMAGE_WORK (default /tmp/rollcall-image: the base's root file system),
# ROLLCALL_IMAGE_TAG (default dev). Runs as root (debootstrap and rootful podman). --format docker
# keeps the Dockerfile's HEALTHCHECK (OCI images have none).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${ROLLCALL_IMAGE_WORK:-/tmp/rollcall-image}
TAG=${ROLLCALL_IMAGE_TAG:-dev}
TARGETS=("${@:-mesh}")
NODE_VERSION=$(node -p 'process.versions.node')
BASE=localhost/node:${NODE_VERSION}-bookworm-slim
# crun cannot run here (cgroups v1/v2 hybrid, no CAP_SYS_RESOURCE); runc with lowered rlimits can.
PODMAN=(podman --runtime runc)
LIMITS=(--ulimit nofile=4096:4096 --ulimit nproc=4096:4096)

grep -q "NODE_IMAGE=node:${NODE_VERSION}-bookworm-slim" "$ROOT/Dockerfile" \
  || echo "note: this machine's Node ($NODE_VERSION) is not the Dockerfile's NODE_IMAGE; the stand-in base is $BASE" >&2

if ! "${PODMAN[@]}" image exists "$BASE"; then
  rootfs=$WORK/rootfs
  if [ ! -x "$rootfs/usr/bin/apt-get" ]; then
    mkdir -p "$WORK"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian
  fi
  node_bin=$(command -v node)
  npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
  headers=$(dirname "$(dirname "$node_bin")")/include/node
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/usr/local/lib/node_modules" "$rootfs/usr/local/include"
  cp "$node_bin" "$rootfs/usr/local/bin/node"
  rm -rf "$rootfs/usr/local/lib/node_modules/npm" && cp -a "$npm_dir" "$rootfs/usr/local/lib/node_modules/npm"
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  rm -rf "$rootfs/usr/local/include/node" && cp -a "$headers" "$rootfs/usr/local/include/node"
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/usr/local/share/build-host-ca.crt"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/build-host-ca.crt' \
    --change 'ENV npm_config_nodedir=/usr/local' \
    --change 'CMD ["node"]' - "$BASE"
fi

for target in "${TARGETS[@]}"; do
  case $target in
    mesh) image=localhost/rollcall:$TAG ;;
    agent) image=localhost/rollcall-agent:$TAG ;;
    *) echo "unknown target $target (mesh or agent)" >&2; exit 2 ;;
  esac
  "${PODMAN[@]}" build --format docker --network host "${LIMITS[@]}" --build-arg "NODE_IMAGE=$BASE" --target "$target" -t "$image" -f "$ROOT/Dockerfile" "$ROOT"
  run=("${PODMAN[@]}" run --rm --no-healthcheck "${LIMITS[@]}" --read-only --tmpfs /tmp --tmpfs /var/lib/rollcall)
  if [ "$target" = mesh ]; then
    "${run[@]}" "$image" --help
    # A real start: identity and authz (identity seeds authz at first start) on the embedded Postgres,
    # as non-root on a read-only root, until /readyz answers.
    # The data dir as a pod gets it (an emptyDir writable by fsGroup): a host directory owned by uid 10001.
    name=rollcall-smoke-$$
    data=$WORK/smoke-data
    rm -rf "$data" && mkdir -p "$data" && chown 10001:10001 "$data"
    "${PODMAN[@]}" run -d --no-healthcheck --name "$name" "${LIMITS[@]}" --read-only --tmpfs /tmp -v "$data:/var/lib/rollcall" \
      -e ROLLCALL_HOST=127.0.0.1 -e ROLLCALL_MESH_TRANSPORT=plaintext -e ROLLCALL_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" "$image" serve identity authz >/dev/null
    ready=""
    for _ in $(seq 1 90); do
      if "${PODMAN[@]}" exec "$name" node -e "fetch('http://127.0.0.1:9464/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" 2>/dev/null; then ready=yes; break; fi
      sleep 2
    done
    "${PODMAN[@]}" logs "$name" 2>&1 | tail -5
    "${PODMAN[@]}" exec "$name" id
    "${PODMAN[@]}" rm -f "$name" >/dev/null
    [ -n "$ready" ] || { echo "$image: identity and authz did not become ready" >&2; exit 1; }
    echo "$image: serve identity authz is ready (/readyz 200)"
  else
    # Whole output first: `| head` would close the pipe early and fail podman's attach.
    "${run[@]}" "$image" --help > "$WORK/agent-help.txt" && head -5 "$WORK/agent-help.txt"
    # OpenCV's runtime libraries and onnxruntime load as uid 10001 on a read-only root: decode a
    # photo with OpenCV and find its face with the agent's own detector.
    models=${ROLLCALL_SMOKE_MODELS:-$ROOT/models}
    faces=${ROLLCALL_SMOKE_FACES:-$ROOT/../shared/faces/identities}
    "${run[@]}" -v "$models:/models:ro" -v "$faces:/faces:ro" --entrypoint node "$image" --input-type=module -e "
      const { cv } = await import('/app/dist/agent/src/cv.js');
      const { createDetector } = await import('/app/dist/agent/src/pipeline/detector.js');
      const frame = cv.imread('/faces/img1.jpg');
      const faces = await (await createDetector('onnxruntime', '/models', 1)).detect(frame, 0.6);
      console.log('agent smoke: OpenCV ' + cv.version.major + '.' + cv.version.minor + ' decoded ' + frame.cols + 'x' + frame.rows + ', onnxruntime found ' + faces.length + ' face(s) as uid ' + process.getuid());
      if (faces.length !== 1) process.exit(1);"
  fi
  "${PODMAN[@]}" image ls "$image"
done
