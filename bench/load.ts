/**
 * HTTP load for bench:latency and bench:scale: requests on an agent of the caller's choosing (lib's
 * postJson shares one single-socket agent), an open-loop and a closed-loop generator, and a worker
 * thread that runs either: the load's own request handling then never delays the thread that
 * measures (at 2,000 requests/s it would add milliseconds of event-loop lag to every probe).
 */
import http from 'node:http';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

export interface Response {
  status: number;
  text: string;
}

/** One POST on `agent` (node:http: fetch costs about 1 ms a request of its own here). */
export function post(
  agent: http.Agent,
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          ...headers,
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface OpenLoopOptions {
  /** Publisher base URLs; requests go round-robin over them. */
  targets: string[];
  /** Requests per second over all targets. */
  rate: number;
  /** The path and body of request `i` (a POST). */
  request: (i: number) => Request;
  /** Beyond this many unanswered requests, due ones are counted as missed instead of sent. */
  maxInFlight?: number;
  /** Sockets per target. */
  sockets?: number;
}

/**
 * Sends requests on a fixed schedule (request i at start + i/rate), whether or not earlier ones
 * were answered: a slow server meets the same arrival rate instead of slowing the generator down
 * with it (a closed loop would measure less load exactly when the system struggles). Latencies are
 * counted from each request's scheduled time, so a request that had to wait to be sent counts
 * that wait too.
 */
export interface Request {
  path: string;
  body: string;
  contentType?: string;
}

export interface Progress {
  sent: number;
  ok: number;
  failed: number;
  missed: number;
  pending: number;
  /** Rows stored (201) so far: requests × rows per request. */
  rows: number;
  /** Rows per second since the start. */
  rowRate: number;
  firstError?: string;
}

export class OpenLoop {
  readonly latencies: number[] = [];
  sent = 0;
  ok = 0;
  failed = 0;
  /** Due while maxInFlight requests were unanswered: never sent. */
  missed = 0;
  firstError?: string;
  private inFlight = 0;
  private started = 0;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private drained?: () => void;
  private readonly agent: http.Agent;

  constructor(private readonly o: OpenLoopOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: o.sockets ?? 64 });
  }

  start(): void {
    this.started = performance.now();
    this.tick();
  }

  get pending(): number {
    return this.inFlight;
  }

  /** Answered requests per second since start. */
  achievedRate(now = performance.now()): number {
    return this.ok / ((now - this.started) / 1000);
  }

  private tick = () => {
    if (this.stopped) return;
    const due = Math.floor(((performance.now() - this.started) / 1000) * this.o.rate);
    const max = this.o.maxInFlight ?? 5000;
    while (this.sent + this.missed < due) {
      const i = this.sent + this.missed;
      if (this.inFlight >= max) {
        this.missed += 1;
        continue;
      }
      this.send(i, this.started + (i / this.o.rate) * 1000);
    }
    this.timer = setTimeout(this.tick, 1);
  };

  private send(i: number, scheduled: number): void {
    const { targets } = this.o;
    const target = targets[i % targets.length] as string;
    const { path, body, contentType } = this.o.request(i);
    this.sent += 1;
    this.inFlight += 1;
    post(
      this.agent,
      `${target}${path}`,
      body,
      contentType ? { 'content-type': contentType } : {},
    ).then(
      (res) => {
        if (res.status === 201) {
          this.ok += 1;
          this.latencies.push(performance.now() - scheduled);
        } else {
          this.failed += 1;
          this.firstError ??= `HTTP ${res.status}: ${res.text.slice(0, 200)}`;
        }
        this.settle();
      },
      (e: Error) => {
        this.failed += 1;
        this.firstError ??= e.message;
        this.settle();
      },
    );
  }

  private settle(): void {
    this.inFlight -= 1;
    if (this.inFlight === 0) this.drained?.();
  }

  /** Stops sending and waits for the requests in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.inFlight > 0) await new Promise<void>((r) => (this.drained = r));
    this.agent.destroy();
  }
}

/**
 * As many requests as answers allow: `connections` requests in flight per target, each sent as
 * soon as the one before it on its connection is answered. For "as fast as it goes".
 */
export class ClosedLoop {
  readonly latencies: number[] = [];
  sent = 0;
  ok = 0;
  failed = 0;
  readonly missed = 0;
  firstError?: string;
  private pendingCount = 0;
  private started = 0;
  private stopped = false;
  private loops: Array<Promise<void>> = [];
  private readonly agent: http.Agent;

  constructor(
    private readonly o: { targets: string[]; connections: number; request: (i: number) => Request },
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: o.connections });
  }

  get pending(): number {
    return this.pendingCount;
  }

  achievedRate(now = performance.now()): number {
    return this.ok / ((now - this.started) / 1000);
  }

  start(): void {
    this.started = performance.now();
    for (const target of this.o.targets) {
      for (let k = 0; k < this.o.connections; k++) this.loops.push(this.loop(target));
    }
  }

  private async loop(target: string): Promise<void> {
    while (!this.stopped) {
      const { path, body, contentType } = this.o.request(this.sent);
      this.sent += 1;
      this.pendingCount += 1;
      const t0 = performance.now();
      try {
        const res = await post(
          this.agent,
          `${target}${path}`,
          body,
          contentType ? { 'content-type': contentType } : {},
        );
        if (res.status === 201) {
          this.ok += 1;
          this.latencies.push(performance.now() - t0);
        } else {
          this.failed += 1;
          this.firstError ??= `HTTP ${res.status}: ${res.text.slice(0, 200)}`;
        }
      } catch (e) {
        this.failed += 1;
        this.firstError ??= (e as Error).message;
        await new Promise((r) => setTimeout(r, 100));
      } finally {
        this.pendingCount -= 1;
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    this.agent.destroy();
  }
}

/** What the load worker is told to do. */
export interface LoadSpec {
  targets: string[];
  /** `open`: `rate` rows/s on a schedule; `closed`: `connections` per target, as fast as it goes. */
  mode: 'open' | 'closed';
  /** Rows per second over all targets (open loop). */
  rate: number;
  connections: number;
  /** 1: single-row POST /data; more: POST /data/batch (NDJSON) of this many rows. */
  batch: number;
  /** Tag stored in every row, to find the load's rows afterwards. */
  tag: string;
}

/** One row's `{"data": …}` of the load: small, like a typical event. */
const loadRow = (tag: string, i: number) =>
  `{"data":{"kind":"load","tag":"${tag}","seq":${i},"email":"john@email.com","amount":123.45}}`;

function loadRequest(spec: LoadSpec): (i: number) => Request {
  if (spec.batch <= 1) return (i) => ({ path: '/data', body: loadRow(spec.tag, i) });
  return (i) => {
    const lines: string[] = [];
    for (let k = 0; k < spec.batch; k++) lines.push(loadRow(spec.tag, i * spec.batch + k));
    return { path: '/data/batch', body: lines.join('\n'), contentType: 'application/x-ndjson' };
  };
}

/** A load running in its own thread; progress() and stop() report what it did. */
export class LoadWorker {
  private readonly worker: Worker;
  private last: Progress = {
    sent: 0,
    ok: 0,
    failed: 0,
    missed: 0,
    pending: 0,
    rows: 0,
    rowRate: 0,
  };
  private readonly ready: Promise<void>;
  private finished?: (result: Progress & { latencies: number[] }) => void;

  constructor(readonly spec: LoadSpec) {
    this.worker = new Worker(new URL(import.meta.url), { workerData: spec });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('error', reject);
      this.worker.on('message', (m: { type: string } & Progress & { latencies?: number[] }) => {
        if (m.type === 'started') resolve();
        if (m.type === 'progress' || m.type === 'done') this.last = m;
        if (m.type === 'done') this.finished?.(m as Progress & { latencies: number[] });
      });
    });
  }

  /** Resolves once the worker sends its first requests. */
  started(): Promise<void> {
    return this.ready;
  }

  /** The latest figures (sent twice a second). */
  progress(): Progress {
    return this.last;
  }

  /** Stops sending, waits for the answers, and returns the totals and each request's latency. */
  async stop(): Promise<Progress & { latencies: number[] }> {
    const done = new Promise<Progress & { latencies: number[] }>((r) => (this.finished = r));
    this.worker.postMessage('stop');
    const result = await done;
    await this.worker.terminate();
    return result;
  }
}

if (!isMainThread && parentPort) {
  const spec = workerData as LoadSpec;
  const port = parentPort;
  const request = loadRequest(spec);
  const rowsPerRequest = Math.max(1, spec.batch);
  const load =
    spec.mode === 'open'
      ? new OpenLoop({ targets: spec.targets, rate: spec.rate / rowsPerRequest, request })
      : new ClosedLoop({ targets: spec.targets, connections: spec.connections, request });
  const progress = (): Progress => ({
    sent: load.sent,
    ok: load.ok,
    failed: load.failed,
    missed: load.missed,
    pending: load.pending,
    rows: load.ok * rowsPerRequest,
    rowRate: load.achievedRate() * rowsPerRequest,
    firstError: load.firstError,
  });
  load.start();
  port.postMessage({ type: 'started' });
  const timer = setInterval(() => port.postMessage({ type: 'progress', ...progress() }), 500);
  port.on('message', async (m) => {
    if (m !== 'stop') return;
    clearInterval(timer);
    const final = progress();
    await load.stop();
    port.postMessage({
      type: 'done',
      ...final,
      ...progress(),
      rowRate: final.rowRate,
      latencies: load.latencies,
    });
  });
}
