# syntax=docker/dockerfile:1
# wattledger container image: the daemon and the CLI on the official Node.js image, production
# dependencies only, running as UID 65532 on a read-only root filesystem.
#
#   docker build -t wattledger .
#   docker run --read-only --tmpfs /tmp --runtime=nvidia --gpus all -e NVIDIA_DRIVER_CAPABILITIES=utility \
#     -v wattledger-ledger:/var/lib/wattledger -v /sys:/host/sys:ro -e WATTLEDGER_SYSFS_ROOT=/host/sys \
#     -v "$PWD/signing-key:/run/secrets/signing-key:ro" wattledger run
#
# docs/INSTALL.md ("Container image") says how to run it and what was and was not checked: no
# container engine runs where this project is tested, so tests/e2e/container-image.test.ts builds the
# same file tree with the same steps into a folder and runs the daemon from it, read-only.
# libnvidia-ml.so.1 and nvidia-smi are not in the image: the NVIDIA container runtime injects the
# host driver's copies (NVIDIA_DRIVER_CAPABILITIES=utility is all it needs).

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: compile TypeScript, then keep only what `npm ci --omit=dev` would install -------------
FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json tsconfig.json ./
# koffi (the NVML binding) ships prebuilt binaries for linux-x64/arm64 glibc; nothing is compiled.
RUN npm ci --no-audit --no-fund
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev --no-audit --no-fund
# The image's file tree, laid out under out/ and copied whole into the runtime stage.
RUN mkdir -p out/opt/wattledger out/usr/local/bin out/var/lib/wattledger \
 && cp -R package.json node_modules out/opt/wattledger/ \
 && mkdir -p out/opt/wattledger/dist && cp -R dist/src out/opt/wattledger/dist/src \
 && find out/opt/wattledger -name '*.map' -delete \
 && chmod 0755 out/opt/wattledger/dist/src/main.js \
 && ln -s /opt/wattledger/dist/src/main.js out/usr/local/bin/wattledger

# --- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
# npm, npx and corepack (with node-gyp) are not needed to run the daemon; the base image has no
# compiler. What is left to run is node and wattledger.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg
COPY --from=build /build/out/opt/wattledger /opt/wattledger
# A directory copy keeps the symlink a symlink (a symlink named as the source would be followed).
COPY --from=build /build/out/usr/local/bin/ /usr/local/bin/
# The ledger volume, owned by the daemon's user (a named volume takes this owner and mode).
COPY --from=build --chown=65532:65532 --chmod=0700 /build/out/var/lib/wattledger /var/lib/wattledger
ENV NODE_ENV=production \
    CREDENTIALS_DIRECTORY=/run/secrets
# Numeric, so Kubernetes can check runAsNonRoot; the same UID/GID as the Helm chart's defaults.
USER 65532:65532
WORKDIR /var/lib/wattledger
VOLUME ["/var/lib/wattledger"]
# The ledger API's readiness. It follows WATTLEDGER_API_LISTEN; when api.listen is set in a config
# file instead, set the same address in WATTLEDGER_API_LISTEN or override this check. Kubernetes
# ignores HEALTHCHECK: the Helm chart's readinessProbe asks the same /readyz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "const a=process.env.WATTLEDGER_API_LISTEN||'127.0.0.1:9464';fetch('http://'+a.replace(/^0\\.0\\.0\\.0:/,'127.0.0.1:').replace(/^\\[::\\]:/,'[::1]:')+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/local/bin/wattledger"]
CMD ["run"]
