#!/usr/bin/env bash
# Builds faiss-node against Debian's FAISS (see README.md beside this file). Run by `npm ci`
# (postinstall): npm does not run the install scripts of `file:` packages itself.
set -euo pipefail
cd "$(dirname "$0")/faiss-node"
if ! [ -e /usr/lib/x86_64-linux-gnu/libfaiss.a ] || ! [ -e /usr/include/faiss/Index.h ]; then
  echo "faiss-node needs Debian's FAISS: apt-get install -y --no-install-recommends libfaiss-dev libopenblas0-pthread" >&2
  exit 1
fi
node-gyp rebuild --silent
