# oidc-gw as a container image: the CLI is the entrypoint, so the image runs
# any command (`serve`, `idp`, `decode`...). README.md "Container" and
# examples/compose/ show it in a compose file.
#
#   docker build -t oidc-gw .
#   docker run --rm oidc-gw --help
#
# Stage 1 builds and packs the package exactly as npm publishes it (the
# "files" of package.json); stage 2 installs that tarball globally, with its
# runtime dependencies only, and runs as the unprivileged `node` user.

FROM node:20-slim AS build
WORKDIR /src
# Dependencies first (cached while package*.json do not change); no scripts:
# `prepare` would build before the sources are here.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json tsconfig.api.json README.md ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
RUN npm run build \
  && npm pack --ignore-scripts --silent \
  && mv oidc-gw-*.tgz /tmp/oidc-gw.tgz

FROM node:20-slim
ENV NODE_ENV=production \
    NO_UPDATE_NOTIFIER=1 \
    HEALTHCHECK_PORT=9100
COPY --from=build /tmp/oidc-gw.tgz /tmp/oidc-gw.tgz
RUN npm install --global --omit=dev --no-audit --no-fund /tmp/oidc-gw.tgz \
  && rm /tmp/oidc-gw.tgz \
  && npm cache clean --force
USER node
WORKDIR /home/node
# serve's usual port, the dev IdP's default port, serve's admin port.
EXPOSE 8080 9000 9100
# The admin port of `serve --admin-port 9100` (on 127.0.0.1 inside the
# container): /healthz answers 200 while the gateway runs. A container that
# runs another command (e.g. `idp`) sets its own check, as the compose
# example does. Node's fetch: the slim image has no curl.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.HEALTHCHECK_PORT}/healthz`,{signal:AbortSignal.timeout(2000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["oidc-gw"]
CMD ["--help"]
