# syntax=docker/dockerfile:1
# Hoist controller image:  docker build -t hoist .
#   build    the whole dependency tree, then `npm run build` (tsc) -> dist/
#   deps     production dependencies only: npm ci --omit=dev
#   runtime  Node 24 slim with npm, npx, corepack and yarn removed (distroless-style: nothing but
#            node and the app), files owned by root and read-only for the process, which runs as
#            UID/GID 65532 and writes only to /tmp: readOnlyRootFilesystem: true works with an
#            emptyDir at /tmp (the Helm chart mounts one).
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && rm -rf /root/.npm

FROM ${NODE_IMAGE} AS runtime
# Only node stays: no package managers in the image that runs in production.
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
      /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-* /root/.npm /tmp/* \
    && chmod 1777 /tmp
LABEL org.opencontainers.image.title="hoist" \
      org.opencontainers.image.description="GitOps Kubernetes controller that promotes container images from staging to production registries" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp
COPY --from=deps --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist ./dist
COPY --chown=0:0 package.json ./
COPY --chown=0:0 bin/hoist.js ./bin/hoist.js
USER 65532:65532
EXPOSE 8080 8081
# No src/ in the image, so bin/hoist.js runs dist/cli/main.js.
ENTRYPOINT ["node", "/app/bin/hoist.js"]
CMD ["controller"]
