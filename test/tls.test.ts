/**
 * HTTPS served by the processes themselves (COLLECTOR_TLS_CERT, COLLECTOR_TLS_KEY), with a CA and
 * a server certificate made in the test by the openssl command line (test/certs.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../common/env.js';
import { tlsOptions } from '../common/http.js';
import { projectRoot } from '../common/paths.js';
import type { RunningService } from '../common/service.js';
import { publisherConfigFromEnv } from '../publisher-api/config.js';
import { gatewayConfigFromEnv } from '../subscriber-graphql/config.js';
import { makeCertificates, type TestCertificates } from './certs.js';
import { collector, startTestApi, startTestGateway } from './helpers.js';

let dir: string;
let certs: TestCertificates;
const file = (name: string) => path.join(dir, name);

/** GET over HTTPS, trusting only `ca` (none: the system's CAs). */
function httpsGet(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: ca ? [ca] : undefined, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

let ca: string;
let api: RunningService;
let gateway: RunningService;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'collector-tls-'));
  certs = await makeCertificates(dir);
  await writeFile(file('not-pem.txt'), 'hello\n');
  ca = await readFile(certs.ca, 'utf8');
  const tls = { tlsCert: certs.serverCert, tlsKey: certs.serverKey };
  api = await startTestApi(tls);
  gateway = await startTestGateway(tls);
});
afterAll(async () => {
  await api?.stop();
  await gateway?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('serving TLS directly', () => {
  it('serves HTTPS to a client that trusts the CA, publisher API and gateway alike', async () => {
    expect(api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(gateway.url).toMatch(/^https:\/\//);
    for (const url of [api.url, gateway.url]) {
      const res = await httpsGet(`${url}/health`, ca);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body)).toMatchObject({ status: 'ok' });
    }
  });

  it('is refused by a client that does not trust the certificate', async () => {
    await expect(httpsGet(`${api.url}/health`)).rejects.toThrow(/certificate/i);
  });

  it('answers no plain HTTP on that port', async () => {
    const plain = api.url.replace('https://', 'http://');
    await expect(
      fetch(`${plain}/health`, { signal: AbortSignal.timeout(10_000) }),
    ).rejects.toThrow();
  });
});

describe('TLS settings', () => {
  const DB = 'postgres://u:p@db:5432/collector';
  const problemsOf = (fn: () => unknown): string[] => {
    try {
      fn();
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
    return [];
  };

  it('takes both files or neither', () => {
    expect(
      problemsOf(() =>
        publisherConfigFromEnv({
          COLLECTOR_PUBLISHER_DATABASE_URL: DB,
          COLLECTOR_TLS_CERT: file('server.crt'),
        }),
      ),
    ).toEqual([
      expect.stringMatching(/^COLLECTOR_TLS_KEY: is required when COLLECTOR_TLS_CERT is set/),
    ]);
    expect(
      problemsOf(() =>
        gatewayConfigFromEnv({
          COLLECTOR_SUBSCRIBER_DATABASE_URL: DB,
          COLLECTOR_TLS_KEY: file('server.key'),
        }),
      ),
    ).toEqual([
      expect.stringMatching(/^COLLECTOR_TLS_CERT: is required when COLLECTOR_TLS_KEY is set/),
    ]);
    const both = publisherConfigFromEnv({
      COLLECTOR_PUBLISHER_DATABASE_URL: DB,
      COLLECTOR_TLS_CERT: file('server.crt'),
      COLLECTOR_TLS_KEY: file('server.key'),
    });
    expect(both).toMatchObject({ tlsCert: file('server.crt'), tlsKey: file('server.key') });
  });

  it('names an unreadable file, a file that is not PEM, or a key of another certificate', () => {
    expect(
      problemsOf(() =>
        publisherConfigFromEnv({
          COLLECTOR_PUBLISHER_DATABASE_URL: DB,
          COLLECTOR_TLS_CERT: file('missing.crt'),
          COLLECTOR_TLS_KEY: file('not-pem.txt'),
        }),
      ),
    ).toEqual([
      expect.stringMatching(/^COLLECTOR_TLS_CERT: cannot read .*missing\.crt: ENOENT/),
      expect.stringMatching(/^COLLECTOR_TLS_KEY: .*not-pem\.txt is not a PEM file/),
    ]);
    expect(
      problemsOf(() => tlsOptions({ tlsCert: certs.serverCert, tlsKey: certs.otherKey })),
    ).toEqual([expect.stringMatching(/^COLLECTOR_TLS_CERT, COLLECTOR_TLS_KEY: not a usable/)]);
  });

  it('stops the real process at start-up with a line naming the variable', async () => {
    const child = spawn(
      process.execPath,
      [path.join(projectRoot(), 'dist', 'publisher-api', 'main.js')],
      {
        env: {
          ...process.env,
          COLLECTOR_PUBLISHER_DATABASE_URL: (
            collector().publishers[0] as { apiDatabaseUrl: string }
          ).apiDatabaseUrl,
          COLLECTOR_PUBLISHER_PORT: '0',
          COLLECTOR_TLS_CERT: file('missing.crt'),
          COLLECTOR_TLS_KEY: file('server.key'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(/COLLECTOR_TLS_CERT: cannot read .*missing\.crt/);
  });
});
