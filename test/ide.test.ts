/**
 * GraphiQL at /graphiql works with no network: a real headless Chromium loads it with every
 * request off this machine refused, and runs queries through it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningService } from '../common/service.js';
import { gatewayConfigFromEnv } from '../subscriber-graphql/config.js';
import { startGateway } from '../subscriber-graphql/start.js';
import { adminToken, collector, http } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
/** GraphiQL's editors are CodeMirror 5, which hangs its instance on the wrapper element. */
type CodeMirrorHost = { CodeMirror?: { getValue(): string; setValue(v: string): void } };
// The page's own global, in functions that run in the browser (this project has no DOM types).
declare const document: { querySelector(selector: string): CodeMirrorHost | null };
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The asset URLs a page's HTML refers to (scripts and stylesheets): paths on the gateway only. */
function assetUrls(html: string): string[] {
  const urls = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1] as string);
  // Checked before any is fetched: a test never sends a request off this machine.
  for (const url of urls) expect(url).toMatch(/^\/graphiql\/assets\//);
  return urls;
}

describe('offline GraphiQL in a browser', () => {
  let browser: Browser | undefined;
  let page: Page;
  /** Requests the page tried to send off this machine (each one refused). */
  const offMachine: string[] = [];
  /** Console errors (CSP refusals show up here) and uncaught page errors. */
  const pageErrors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(
        `No Chromium at ${CHROMIUM}: run \`apt-get install chromium\` (.ci/run installs it).`,
      );
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const context = await browser.newContext();
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (LOCAL_HOSTS.has(url.hostname)) return route.continue();
      offMachine.push(url.href);
      return route.abort('internetdisconnected');
    });
    page = await context.newPage();
    page.on('console', (msg) => {
      // The refused query below is a 401, which Chromium logs as an error too.
      if (msg.type() === 'error' && !/status of 401/.test(msg.text())) pageErrors.push(msg.text());
    });
    page.on('pageerror', (error) => pageErrors.push(String(error)));
    await page.goto(`${collector().gatewayUrl}/graphiql`);
    await page
      .locator('.graphiql-execute-button')
      .waitFor({ timeout: 20_000 })
      .catch((e: Error) => {
        throw new Error(
          `GraphiQL did not render (${e.message.split('\n')[0]}). Requests refused because they ` +
            `left this machine: ${JSON.stringify(offMachine)}. Page errors: ${JSON.stringify(pageErrors)}`,
        );
      });
  });

  afterAll(async () => {
    await browser?.close();
  });

  /** Sets the text of one of GraphiQL's CodeMirror editors. */
  const setEditor = (selector: string, value: string) =>
    page.evaluate(
      ([sel, text]) => {
        const el = document.querySelector(sel);
        if (!el?.CodeMirror) throw new Error(`no editor at ${sel}`);
        el.CodeMirror.setValue(text);
      },
      [selector, value] as const,
    );

  /** The text of one of GraphiQL's CodeMirror editors. */
  const editorText = (selector: string) =>
    page.evaluate((sel) => {
      const el = document.querySelector(sel);
      return el?.CodeMirror?.getValue() ?? '';
    }, selector);

  const RESPONSE = '.graphiql-response .CodeMirror';

  /** Runs the query editor's operation and returns the response editor's text once it changes. */
  async function run(query: string): Promise<string> {
    await setEditor('.graphiql-query-editor .CodeMirror', query);
    // GraphiQL parses the query editor 100 ms after a change (the operation to run comes from
    // that); a click before it could run the previous text.
    await new Promise((r) => setTimeout(r, 300));
    const before = await editorText(RESPONSE);
    await page.locator('.graphiql-execute-button').click();
    await page
      .waitForFunction(
        ([sel, old]) => {
          const el = document.querySelector(sel);
          const text = el?.CodeMirror?.getValue() ?? '';
          return text.trim() !== '' && text !== old;
        },
        [RESPONSE, before] as const,
        { timeout: 15_000 },
      )
      .catch(async () => {
        throw new Error(
          `No new result for ${query} within 15 s; the response pane shows ` +
            `${JSON.stringify(await editorText(RESPONSE))}, page errors: ${JSON.stringify(pageErrors)}`,
        );
      });
    return editorText(RESPONSE);
  }

  it('opens with the Sandbox operations, loading nothing from off this machine', async () => {
    const query = await editorText('.graphiql-query-editor .CodeMirror');
    expect(query).toContain('mutation Login');
    expect(query).toContain('query Data');
    expect(query).toMatch(/Authorization/);
    expect(offMachine).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('runs a query that needs no token, then one with a token in the headers editor', async () => {
    expect(JSON.parse(await run('{ __typename }'))).toEqual({ data: { __typename: 'Query' } });

    const refused = JSON.parse(await run('{ data(first: 1) { nodes { id } } }'));
    expect(refused.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');

    // The Headers tab is open from the start (the document's step 2).
    await setEditor(
      '.graphiql-editor-tool .graphiql-editor:not(.hidden) .CodeMirror',
      JSON.stringify({ Authorization: `Bearer ${await adminToken()}` }),
    );
    const result = JSON.parse(await run('{ data(first: 1) { nodes { id } } }'));
    expect(result.errors).toBeUndefined();
    expect(Array.isArray(result.data?.data?.nodes)).toBe(true);

    expect(offMachine).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});

describe('offline GraphiQL over HTTP', () => {
  it('serves the page with a same-origin-only Content-Security-Policy', async () => {
    const res = await http(`${collector().gatewayUrl}/graphiql`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/unsafe-eval|https?:|\*/);
    // Every script and stylesheet is the gateway's own.
    expect(assetUrls(res.text).length).toBeGreaterThanOrEqual(5);
  });

  it('serves the assets with their content types, cacheable for a year', async () => {
    const page = await http(`${collector().gatewayUrl}/graphiql`);
    for (const url of assetUrls(page.text)) {
      const res = await http(new URL(url, collector().gatewayUrl).href);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type'), url).toMatch(
        url.endsWith('.css') ? /^text\/css/ : /^text\/javascript/,
      );
      expect(res.headers.get('cache-control'), url).toBe('public, max-age=31536000, immutable');
      expect(res.text.length, url).toBeGreaterThan(0);
    }
    // A stale or made-up version is not served.
    const stale = await http(`${collector().gatewayUrl}/graphiql/assets/000000000000/ide.js`);
    expect(stale.status).toBe(404);
  });

  it('names the offline IDE in the Sandbox landing page', async () => {
    const sandbox = await http(`${collector().gatewayUrl}/graphql`, {
      headers: { accept: 'text/html' },
    });
    expect(sandbox.text).toContain('GET /graphiql');
  });
});

describe('offline GraphiQL in production', () => {
  let gateway: RunningService;

  beforeAll(async () => {
    gateway = await startGateway(
      gatewayConfigFromEnv({
        NODE_ENV: 'production',
        COLLECTOR_SUBSCRIBER_DATABASE_URL: collector().subscriberGatewayUrl,
        COLLECTOR_JWT_SECRET: randomBytes(32).toString('hex'),
        COLLECTOR_GATEWAY_PORT: '0',
        COLLECTOR_LOG_LEVEL: 'silent',
      }),
    );
  });
  afterAll(() => gateway?.stop());

  it('serves neither the page nor its assets (404)', async () => {
    const dev = await http(`${collector().gatewayUrl}/graphiql`);
    expect((await http(`${gateway.url}/graphiql`)).status).toBe(404);
    for (const url of assetUrls(dev.text)) {
      expect((await http(new URL(url, gateway.url).href)).status, url).toBe(404);
    }
  });
});
