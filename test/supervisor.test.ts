/**
 * The supervisor's restart policy, on real child processes: a child that keeps dying is restarted
 * with growing delays, keeps its port, and is reported; one that stays up long enough is forgiven.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Backoff, SupervisedChild } from '../collector/supervisor.js';
import { waitFor } from './helpers.js';

describe('Backoff', () => {
  it('doubles each delay up to the cap, and forgives after a stable run', async () => {
    const b = new Backoff({ initialMs: 10, maxMs: 40, stableMs: 50 });
    const delays = [1, 2, 3, 4].map(() => b.schedule(() => {}));
    expect(delays).toEqual([10, 20, 40, 40]);
    b.up();
    await new Promise((r) => setTimeout(r, 60));
    expect(b.schedule(() => {})).toBe(10);
    b.stop();
    expect(b.schedule(() => {})).toBeUndefined();
  });
});

describe('SupervisedChild', () => {
  let dir: string;
  let script: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'collector-supervisor-'));
    script = path.join(dir, 'flaky.mjs');
    // Listens on the port it is given, says so, and dies 150 ms later.
    await writeFile(
      script,
      `import http from 'node:http';
const server = http.createServer((_q, s) => s.end('ok'));
server.listen(Number(process.env.PORT), '127.0.0.1', () => {
  process.send({ type: 'ready', url: 'http://127.0.0.1:' + server.address().port });
  setTimeout(() => process.exit(3), 150);
});
`,
    );
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('restarts a child that dies, with growing delays, on the same port, and says so', async () => {
    const log: string[] = [];
    const child = new SupervisedChild({
      name: 'flaky',
      script,
      env: { ...process.env, PORT: '0' },
      portVariable: 'PORT',
      backoff: { initialMs: 50, maxMs: 400, stableMs: 10_000 },
      log: (line) => log.push(line),
    });
    const url = await child.start();
    await waitFor('three restarts', async () => (child.restarts >= 3 ? true : undefined), 10_000);
    await child.stop();
    expect(child.url).toBe(url);
    const delays = log
      .map((l) => /died \(code 3\); restarting in ([\d.]+) s/.exec(l)?.[1])
      .filter((d): d is string => d !== undefined)
      .map(Number);
    expect(delays.slice(0, 3)).toEqual([0.05, 0.1, 0.2]);
    expect(log.join('\n')).toMatch(/flaky restarted \(restart 1\) at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('reports a child that cannot start, with its output', async () => {
    const broken = path.join(dir, 'broken.mjs');
    await writeFile(broken, "console.error('no config here'); process.exit(2);\n");
    const child = new SupervisedChild({
      name: 'broken',
      script: broken,
      env: {},
      portVariable: 'PORT',
    });
    await expect(child.start()).rejects.toThrow(
      /broken exited during start \(code 2\):\nno config here/,
    );
  });
});
