/** The test helpers themselves: a hung server must fail a test, not hang the run. */
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HTTP_TIMEOUT_MS, http } from './helpers.js';

let silent: net.Server;
let url: string;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  // Accepts connections and never answers.
  silent = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/`;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => silent.close(r));
});

describe('http()', () => {
  it('gives up on a server that never answers, after HTTP_TIMEOUT_MS by default', async () => {
    // The default timer is stood in for by one this test fires early, so the run waits 100 ms,
    // not 20 s.
    const stand = new AbortController();
    const timeout = vi.spyOn(AbortSignal, 'timeout').mockReturnValue(stand.signal);
    try {
      const pending = http(url);
      expect(timeout).toHaveBeenCalledWith(HTTP_TIMEOUT_MS);
      setTimeout(() => stand.abort(new DOMException('timed out', 'TimeoutError')), 100);
      await expect(pending).rejects.toThrow(/timed out/);
    } finally {
      timeout.mockRestore();
    }
  });

  it("honours the caller's own signal", async () => {
    const began = Date.now();
    await expect(http(url, { signal: AbortSignal.timeout(200) })).rejects.toThrow(
      /timeout|aborted/i,
    );
    expect(Date.now() - began).toBeLessThan(5_000);
  });
});
