/**
 * Steady client load for the fault suite: writers that POST to every publisher and retry, with
 * the same Idempotency-Key, until each write is acknowledged; readers that query the gateway. It
 * records every acknowledged id, so that afterwards the subscriber can be checked for exactly that
 * set: nothing missing, nothing duplicated.
 */
import { randomUUID } from 'node:crypto';

export interface WriterStats {
  /** Acknowledged writes: id by write key. */
  acked: Map<string, string>;
  /** Requests that failed and were retried (network errors, 5xx). */
  retries: number;
  /** Acknowledgements per publisher URL, to see that the others kept flowing. */
  ackedAt: Array<{ url: string; at: number }>;
  /** Unexpected answers (4xx): a fault must never turn into a client error. */
  unexpected: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A POST that gives up after `ms`, so a killed server never hangs a writer. */
async function post(url: string, body: string, key: string, ms: number) {
  const res = await fetch(`${url}/data`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body,
    signal: AbortSignal.timeout(ms),
  });
  return { status: res.status, text: await res.text() };
}

export class WriteLoad {
  readonly stats: WriterStats = { acked: new Map(), retries: 0, ackedAt: [], unexpected: [] };
  private stopping = false;
  private readonly loops: Array<Promise<void>> = [];

  /**
   * @param run tag put into every row, to find this run's rows
   * @param urls publisher API URLs; `perPublisher` writers each
   */
  constructor(
    readonly run: string,
    private readonly urls: string[],
    private readonly perPublisher = 2,
    private readonly pauseMs = 10,
  ) {}

  start(): this {
    for (const url of this.urls) {
      for (let w = 0; w < this.perPublisher; w++) this.loops.push(this.writer(url, w));
    }
    return this;
  }

  private async writer(url: string, w: number): Promise<void> {
    for (let seq = 0; !this.stopping; seq++) {
      const key = `${this.run}:${url}:${w}:${seq}`;
      const body = JSON.stringify({ data: { run: this.run, key, n: seq, note: randomUUID() } });
      // Retry the same write, with the same key, until it is acknowledged: a retry after a lost
      // answer must return the stored row, not store a second one.
      for (let attempt = 0; ; attempt++) {
        try {
          const res = await post(url, body, key, 5000);
          if (res.status === 201 || res.status === 200) {
            this.stats.acked.set(key, (JSON.parse(res.text) as { id: string }).id);
            this.stats.ackedAt.push({ url, at: Date.now() });
            break;
          }
          if (res.status < 500) {
            this.stats.unexpected.push(`${res.status} ${res.text.slice(0, 200)}`);
            break;
          }
        } catch {
          // connection refused or reset, timeout: the server is restarting
        }
        this.stats.retries += 1;
        await sleep(Math.min(50 * 2 ** attempt, 500));
      }
      await sleep(this.pauseMs);
    }
  }

  /** Stops issuing new writes; resolves once every write in flight is acknowledged. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** Acknowledgements on `url` between two instants. */
  ackedBetween(url: string, from: number, to: number): number {
    return this.stats.ackedAt.filter((a) => a.url === url && a.at >= from && a.at <= to).length;
  }
}

/** GraphQL readers on the gateway, counting answers; errors are expected only during a fault. */
export class ReadLoad {
  ok = 0;
  failed = 0;
  lastOkAt = 0;
  private stopping = false;
  private loops: Array<Promise<void>> = [];

  constructor(
    private readonly gatewayUrl: string,
    private readonly token: string,
    private readonly readers = 2,
  ) {}

  start(): this {
    this.loops = Array.from({ length: this.readers }, () => this.reader());
    return this;
  }

  private async reader(): Promise<void> {
    while (!this.stopping) {
      try {
        const res = await fetch(`${this.gatewayUrl}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
          body: JSON.stringify({
            query: '{ data(first: 20) { nodes { id data annotations { id } } } }',
          }),
          signal: AbortSignal.timeout(5000),
        });
        await res.text();
        if (res.status === 200) {
          this.ok += 1;
          this.lastOkAt = Date.now();
        } else this.failed += 1;
      } catch {
        this.failed += 1;
      }
      await sleep(20);
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }
}
