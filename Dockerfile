# The queuectl service: API, dashboard and workers in one image.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY cli ./cli
COPY bench ./bench
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production QUEUECTL_HOME=/data QUEUECTL_HOST=0.0.0.0 QUEUECTL_PORT=7411
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY views ./views
VOLUME /data
EXPOSE 7411
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve", "--workers", "2"]
