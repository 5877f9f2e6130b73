/**
 * Boots one real collector for the whole run (2 embedded publishers + subscriber, logical
 * replication wired, REST APIs and gateway on free ports) and stops it afterwards, also when tests
 * fail. `startLocalCollector` stops whatever it started if it fails part-way.
 */
import 'reflect-metadata';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { type LocalCollector, startLocalCollector } from '../collector/local.js';
import { freePorts } from '../common/ports.js';

export interface TestCollector {
  dataDir: string;
  gatewayUrl: string;
  subscriberAdminUrl: string;
  subscriberGatewayUrl: string;
  jwtSecret: string;
  adminPassword: string;
  publishers: Array<{ name: string; url: string; adminUrl: string; apiDatabaseUrl: string }>;
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
  dir = await mkdtemp(path.join(tmpdir(), 'collector-test-'));
  // The postgres system user (when tests run as root) must reach the data directories.
  await chmod(dir, 0o755);
  const [subscriber, pub1, pub2] = await freePorts(3);
  const began = performance.now();
  collector = await startLocalCollector({
    dataDir: dir,
    publishers: 2,
    pgPorts: { subscriber: subscriber as number, publishers: [pub1 as number, pub2 as number] },
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
    })),
  });
}

export async function teardown() {
  try {
    await collector?.stop();
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
