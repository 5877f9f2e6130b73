/**
 * The publisher's REST routes: parse, call the ingest service, map errors to status codes.
 */
import type { FastifyInstance } from 'fastify';
import type { Kysely } from 'kysely';
import { type JsonBody, readJsonBody } from '../common/body.js';
import { AppError, badInput } from '../common/errors.js';
import { createHttpServer, registerHealth } from '../common/http.js';
import { pageArgs } from '../common/keyset.js';
import type { PublisherConfig } from './config.js';
import type { PublisherDb } from './db.js';
import { checkIngestBody, datumJson, getDatum, insertDatum, listData } from './ingest.js';

const JSON_TYPE = 'application/json; charset=utf-8';

export function buildPublisherApp(
  db: PublisherDb,
  config: Pick<PublisherConfig, 'bodyLimit' | 'logLevel'>,
): FastifyInstance {
  const app = createHttpServer(config);

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

  app.get('/', async () => ({
    service: 'the-collector publisher',
    endpoints: {
      'POST /data': 'store {"data": <any JSON value>} (Content-Type: application/json, UTF-8)',
      'GET /data': 'list stored rows, newest first (?first=50&after=<endCursor>)',
      'GET /data/:id': 'one stored row',
      'GET /health': 'database reachability',
    },
  }));

  app.post('/data', async (request, reply) => {
    const body = request.body as JsonBody | undefined;
    // No body at all, or a body without a Content-Type header, never reaches the JSON parser.
    if (!body || !request.headers['content-type']?.toLowerCase().startsWith('application/json')) {
      throw new AppError(
        'UNSUPPORTED_MEDIA_TYPE',
        'Send the body as JSON with the header "Content-Type: application/json".',
      );
    }
    checkIngestBody(body);
    const stored = await insertDatum(db, body.text);
    return reply.status(201).type(JSON_TYPE).send(datumJson(stored));
  });

  app.get<{ Params: { id: string } }>('/data/:id', async (request, reply) => {
    const datum = await getDatum(db, request.params.id);
    return reply.type(JSON_TYPE).send(datumJson(datum));
  });

  app.get<{ Querystring: { first?: string; after?: string } }>('/data', async (request, reply) => {
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
  });

  registerHealth(app, db as Kysely<unknown>);

  return app;
}
