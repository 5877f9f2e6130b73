/**
 * GraphiQL at GET /graphiql: an IDE that works with no network. Apollo Sandbox (the landing page
 * on GET /graphql) loads from a CDN, so offline it only says "Apollo Sandbox cannot be loaded".
 * This page loads its scripts and styles from the gateway itself: GraphiQL's UMD build and React
 * 18's UMD builds (React 19 ships none), read from node_modules, at versions package.json pins.
 * Development only, like the Sandbox: in production neither route exists (404).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));

/** Starts GraphiQL with the operations of the page's JSON config; no inline script (CSP). */
const BOOT_SCRIPT = `'use strict';
(function () {
  var config = JSON.parse(document.getElementById('ide-config').textContent);
  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: config.endpoint }),
      defaultQuery: config.document,
      defaultEditorToolsVisibility: 'headers',
    }),
  );
})();
`;

const PAGE_STYLE = 'html, body, #graphiql { height: 100%; margin: 0; }\n';

interface Asset {
  name: string;
  type: string;
  body: Buffer;
  /** Versioned by content, so browsers may keep it for a year. */
  url: string;
}

function asset(name: string, type: string, body: Buffer): Asset {
  const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
  return { name, type, body, url: `/graphiql/assets/${hash}/${name}` };
}

function loadAssets(): Asset[] {
  const js = 'text/javascript; charset=utf-8';
  const file = (pkg: string, path: string) => readFileSync(join(packageDir(pkg), path));
  return [
    asset('react.production.min.js', js, file('react', 'umd/react.production.min.js')),
    asset('react-dom.production.min.js', js, file('react-dom', 'umd/react-dom.production.min.js')),
    asset('graphiql.min.js', js, file('graphiql', 'graphiql.min.js')),
    asset('graphiql.min.css', 'text/css; charset=utf-8', file('graphiql', 'graphiql.min.css')),
    asset('ide.js', js, Buffer.from(BOOT_SCRIPT)),
    asset('ide.css', 'text/css; charset=utf-8', Buffer.from(PAGE_STYLE)),
  ];
}

/**
 * Only this origin's scripts, styles and GraphQL endpoint. GraphiQL's stylesheet embeds its fonts
 * and icons as data: URLs. Its dialogs (react-remove-scroll) add a <style> element and its editors
 * set style attributes, hence 'unsafe-inline' for styles only; scripts stay 'self'.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const escapeJsonForHtml = (value: unknown) =>
  JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

/** Registers GET /graphiql and its assets, unless in production. */
export function registerOfflineIde(
  app: FastifyInstance,
  options: { production: boolean; endpoint: string; document: string },
): void {
  if (options.production) return;
  const assets = loadAssets();
  const url = (name: string) => assets.find((a) => a.name === name)?.url ?? '';
  const config = escapeJsonForHtml({
    endpoint: options.endpoint,
    document: options.document,
  });
  const page = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>The Collector: GraphiQL</title>
<link rel="stylesheet" href="${url('graphiql.min.css')}">
<link rel="stylesheet" href="${url('ide.css')}">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script type="application/json" id="ide-config">${config}</script>
<script src="${url('react.production.min.js')}"></script>
<script src="${url('react-dom.production.min.js')}"></script>
<script src="${url('graphiql.min.js')}"></script>
<script src="${url('ide.js')}"></script>
</body>
</html>
`;

  app.get('/graphiql', async (_request, reply) =>
    reply
      .header('content-security-policy', CONTENT_SECURITY_POLICY)
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'no-cache')
      .type('text/html; charset=utf-8')
      .send(page),
  );

  // One route per asset, so a stale or made-up version is a plain 404.
  for (const found of assets) {
    app.get(found.url, async (_request, reply) =>
      reply
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('x-content-type-options', 'nosniff')
        .type(found.type)
        .send(found.body),
    );
  }
}
