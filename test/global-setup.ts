/**
 * Boots one real collector for the whole run (2 embedded publishers + subscriber, logical
 * replication wired, REST APIs and gateway on free ports) and stops it afterwards, also when tests
 * fail. `startLocalCollector` stops whatever it started if it fails part-way.
 */
import 'reflect-metadata';
import { rm } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { killAllNow } from '../collector/cluster.js';
import { type LocalCollector, startLocalCollector } from '../collector/local.js';
import { freeRange } from '../common/ports.js';
import { scratchDir, stopScratchLaunchersNow, sweepAbandoned } from './sweep.js';

export interface TestCollector {
  dataDir: string;
  gatewayUrl: string;
  subscriberAdminUrl: string;
  subscriberGatewayUrl: string;
  jwtSecret: string;
  adminPassword: string;
  publishers: Array<{
    name: string;
    url: string;
    adminUrl: string;
    apiDatabaseUrl: string;
    /** The publisher API's process, to check that a fault did not kill it. */
    apiPid: number;
  }>;
  gatewayPid: number;
}

declare module 'vitest' {
  export interface ProvidedContext {
    collector: TestCollector;
  }
}

export const ADMIN_PASSWORD = 'test-admin-password';

let collector: LocalCollector | undefined;
let dir: string | undefined;

export async function setup(project: TestProject) {
  await sweepAbandoned();
  dir = await scratchDir('test');
  // Vitest exits without teardown on Ctrl-C or a CI timeout: our postmasters are children of this
  // process, so stop them (immediately) on any exit. After a clean teardown this does nothing.
  process.once('exit', () => {
    killAllNow();
    stopScratchLaunchersNow();
  });
  const subscriber = await freeRange(3);
  const [pub1, pub2] = [subscriber + 1, subscriber + 2];
  const began = performance.now();
  collector = await startLocalCollector({
    dataDir: dir,
    publishers: 2,
    pgPorts: { subscriber, publishers: [pub1, pub2] },
    httpPorts: { gateway: 0, publishers: [0, 0] },
    adminPassword: ADMIN_PASSWORD,
    bodyLimit: 1024 * 1024,
    logLevel: 'silent',
  });
  console.log(`test collector ready in ${((performance.now() - began) / 1000).toFixed(1)} s`);
  project.provide('collector', {
    dataDir: collector.dataDir,
    gatewayUrl: collector.gatewayUrl,
    subscriberAdminUrl: collector.subscriberAdminUrl,
    subscriberGatewayUrl: collector.subscriberGatewayUrl,
    jwtSecret: collector.jwtSecret,
    adminPassword: ADMIN_PASSWORD,
    publishers: collector.publishers.map((p) => ({
      name: p.name,
      url: p.url,
      adminUrl: p.adminUrl,
      apiDatabaseUrl: p.apiDatabaseUrl,
      apiPid: p.api.pid as number,
    })),
    gatewayPid: collector.gateway.pid as number,
  });
}

export async function teardown() {
  try {
    await collector?.stop();
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
