/**
 * The publisher's REST routes: parse, call the ingest service, map errors to status codes.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { checkUtf8Charset, decodeUtf8, type JsonBody, readJsonBody } from '../common/body.js';
import { AppError, badInput } from '../common/errors.js';
import { createHttpServer, registerHealth, type ServerLimits } from '../common/http.js';
import { pageArgs } from '../common/keyset.js';
import { createRegistry, registerHttpMetrics, registerMetricsRoute } from '../common/metrics.js';
import { ApiKeyVerifier } from './api-keys.js';
import { registerAuth } from './auth.js';
import {
  batchJson,
  DEFAULT_MAX_BATCH_ITEMS,
  jsonArrayItems,
  type NdjsonBody,
  ndjsonItems,
  storeBatch,
} from './batch.js';
import type { PublisherConfig } from './config.js';
import type { InsertConnections, PublisherDb } from './db.js';
import { GroupCommit } from './group-commit.js';
import { parseIdempotencyKey, type Repeating, startKeySweep } from './idempotency.js';
import { checkIngestBody, datumJson, getDatum, listData, storeDatum } from './ingest.js';
import { publisherMetrics } from './metrics.js';

const JSON_TYPE = 'application/json; charset=utf-8';

export function buildPublisherApp(
  db: PublisherDb,
  config: Pick<
    PublisherConfig,
    | 'bodyLimit'
    | 'logLevel'
    | 'idempotencyTtlSeconds'
    | 'idempotencySweepSeconds'
    | 'auth'
    | 'keyCacheTtlMs'
  > &
    Partial<Pick<PublisherConfig, 'maxBatchItems' | 'production' | 'metricsToken'>> &
    Partial<ServerLimits>,
  /** Connections of its own for POST /data's group commit (else it runs on `db`). */
  insertConnections?: InsertConnections,
): FastifyInstance {
  const app = createHttpServer(config);
  // Before the routes: each route's `config.scope` says what an API key must allow.
  registerAuth(app, config.auth, new ApiKeyVerifier(db, config.keyCacheTtlMs));

  // Keep the body's text as well as its parsed value: the text is what gets stored, so numbers
  // beyond JavaScript's precision survive. Raw bytes in, so that a body that is not UTF-8 is
  // refused instead of being stored with U+FFFD in place of its characters.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    try {
      done(
        null,
        readJsonBody(body as Buffer, req.headers['content-type'], {
          emptyHint: 'send {"data": <any JSON value>}',
        }),
      );
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  // NDJSON, for POST /data/batch only: decoded here, split into lines by the route.
  app.addContentTypeParser('application/x-ndjson', { parseAs: 'buffer' }, (req, body, done) => {
    try {
      checkUtf8Charset(req.headers['content-type']);
      done(null, { ndjson: decodeUtf8(body as Buffer) } satisfies NdjsonBody);
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  // Single-row POST /data without an Idempotency-Key: concurrent rows share one commit.
  const groupCommit = new GroupCommit(insertConnections ?? db);
  const registry = createRegistry();
  registerHttpMetrics(app, registry);
  const metrics = publisherMetrics(registry, groupCommit.stats);
  const maxBatchItems = config.maxBatchItems ?? DEFAULT_MAX_BATCH_ITEMS;

  // Expired Idempotency-Keys are deleted while the app runs; app.close() waits for a sweep in
  // progress before the pool is closed.
  let sweep: Repeating | undefined;
  app.addHook('onReady', async () => {
    sweep = startKeySweep(
      db,
      { ttlSeconds: config.idempotencyTtlSeconds, intervalSeconds: config.idempotencySweepSeconds },
      app.log,
    );
  });
  app.addHook('onClose', async () => {
    await sweep?.stop();
  });

  app.get('/', async () => ({
    service: 'the-collector publisher',
    endpoints: {
      'POST /data':
        'store {"data": <any JSON value>} (Content-Type: application/json, UTF-8; optional ' +
        'Idempotency-Key header: a retry with the same key returns the first row)',
      'POST /data/batch':
        `store many at once, all or nothing: a JSON array of {"data": …} objects, or NDJSON ` +
        `(Content-Type: application/x-ndjson, one {"data": …} per line); at most ` +
        `${maxBatchItems} items`,
      'GET /data': 'list stored rows, newest first (?first=50&after=<endCursor>)',
      'GET /data/:id': 'one stored row',
      'GET /health': 'the process is up (200 while it serves)',
      'GET /ready': 'the publisher database answers (503 otherwise)',
      'GET /metrics':
        'Prometheus metrics (COLLECTOR_METRICS_TOKEN; closed in production without it)',
    },
    authentication:
      config.auth === 'required'
        ? 'required: send "Authorization: Bearer <API key>" (collector publisher-keys create)'
        : 'optional: requests without Authorization are allowed; a key that is sent is checked',
  }));

  app.post('/data', { config: { scope: 'insert' } }, async (request, reply) => {
    const body = request.body as JsonBody | undefined;
    // No body at all, or a body without a Content-Type header, never reaches the JSON parser.
    if (!body || !request.headers['content-type']?.toLowerCase().startsWith('application/json')) {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        'Send the body as JSON with the header "Content-Type: application/json".',
      );
    }
    const idempotencyKey = parseIdempotencyKey(request.headers['idempotency-key']);
    checkIngestBody(body);
    const { datum, replayed } = await storeDatum(db, body, {
      idempotencyKey,
      ttlSeconds: config.idempotencyTtlSeconds,
      groupCommit,
    });
    // A retry gets the original row with 200 (201 only where this request created it).
    if (replayed) reply.header('idempotent-replayed', 'true');
    else metrics.rowsInserted.inc();
    return reply
      .status(replayed ? 200 : 201)
      .type(JSON_TYPE)
      .send(datumJson(datum));
  });

  app.post('/data/batch', { config: { scope: 'insert' } }, async (request, reply) => {
    // Any other type (text/plain has Fastify's own parser) arrives as something else: 415.
    const body =
      typeof request.body === 'object' && request.body !== null
        ? (request.body as Partial<JsonBody & NdjsonBody>)
        : undefined;
    const type = request.headers['content-type']?.toLowerCase() ?? '';
    let items: ReturnType<typeof ndjsonItems>;
    if (typeof body?.ndjson === 'string' && type.startsWith('application/x-ndjson')) {
      items = ndjsonItems(body.ndjson, maxBatchItems);
    } else if (typeof body?.text === 'string' && type.startsWith('application/json')) {
      items = jsonArrayItems(body.text, body.value, maxBatchItems);
    } else {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        'Send a JSON array of {"data": …} objects with "Content-Type: application/json", or ' +
          'one {"data": …} per line with "Content-Type: application/x-ndjson".',
      );
    }
    const rows = await storeBatch(db, items, groupCommit);
    metrics.rowsInserted.inc(rows.length);
    return reply.status(201).type(JSON_TYPE).send(batchJson(rows));
  });

  app.get<{ Params: { id: string } }>(
    '/data/:id',
    { config: { scope: 'read' } },
    async (request, reply) => {
      const datum = await getDatum(db, request.params.id);
      return reply.type(JSON_TYPE).send(datumJson(datum));
    },
  );

  app.get<{ Querystring: { first?: string; after?: string } }>(
    '/data',
    { config: { scope: 'read' } },
    async (request, reply) => {
      const { first, after } = request.query;
      if (first !== undefined && !/^\d+$/.test(first)) {
        throw badInput(`"first" must be a non-negative integer, got "${first}"`);
      }
      const page = await listData(
        db,
        pageArgs(first === undefined ? undefined : Number(first), after),
      );
      const items = page.rows.map(datumJson).join(',');
      return reply
        .type(JSON_TYPE)
        .send(
          `{"items":[${items}],"pageInfo":${JSON.stringify({ hasNextPage: page.hasNextPage, endCursor: page.endCursor })}}`,
        );
    },
  );

  registerHealth(app, db as Kysely<unknown>, 'publisher database');
  registerMetricsRoute(app, registry, {
    token: config.metricsToken,
    production: config.production ?? false,
  });

  return app;
}
