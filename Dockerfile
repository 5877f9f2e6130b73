# syntax=docker/dockerfile:1
#
# One image for every Node process of The Collector; compose.yaml picks the process per service:
#   node dist/subscriber-graphql/main.js   GraphQL gateway (the default command)
#   node dist/publisher-api/main.js        one publisher's REST API
#   node dist/collector/cli.js setup       one-shot wiring of the databases
# Configuration comes from COLLECTOR_* environment variables only (see .env.example).

# --- build: install everything, compile TypeScript to dist/, then drop the dev dependencies ---
FROM node:20-bookworm-slim AS build
WORKDIR /app

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund

COPY . .
RUN npm run build \
  && npm prune --omit=dev --no-audit --no-fund

# --- runtime: compiled code, SQL migrations and production dependencies only ---
FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app

# common/paths.ts finds the project root as the folder holding both package.json and sql/:
# the migrator reads sql/ at runtime, so both sit next to dist/.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/sql ./sql
COPY --from=build /app/dist ./dist

# Application files stay owned by root (read-only to the process); the process runs unprivileged.
USER node

EXPOSE 4000 8000
CMD ["node", "dist/subscriber-graphql/main.js"]
