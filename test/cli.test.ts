/**
 * The `collector` command line, run as a real process (from the compiled dist/, which the test
 * script builds first).
 */
import { existsSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from './cli-process.js';
import { collector, gql, http, uniqueTag } from './helpers.js';

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" (npm test does)`);
});

describe('collector CLI', () => {
  it('prints help listing every command', async () => {
    const res = await runCli(['--help']);
    expect(res.code).toBe(0);
    for (const cmd of ['start', 'setup', 'user create', 'user set-password']) {
      expect(res.stdout).toContain(cmd);
    }
    const start = await runCli(['start', '--help']);
    expect(start.stdout).toContain('COLLECTOR_PUBLISHERS');
    const setup = await runCli(['setup', '--help']);
    expect(setup.stdout).toContain('COLLECTOR_PUBLISHER_ADMIN_URLS');
  });

  it('rejects an unknown command with exit code 2 and the help', async () => {
    const res = await runCli(['frobnicate']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain("unknown command 'frobnicate'");
    expect(res.stderr).toContain('Commands:');
  });

  it('setup without configuration names the missing variables', async () => {
    const res = await runCli(['setup'], {
      env: { COLLECTOR_SUBSCRIBER_ADMIN_URL: '', COLLECTOR_PUBLISHER_ADMIN_URLS: '' },
    });
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('COLLECTOR_SUBSCRIBER_ADMIN_URL: is required');
    expect(res.stderr).toContain('COLLECTOR_GATEWAY_DB_PASSWORD: is required');
    // Without publishers, setup wires the subscriber only (publishers come with `publishers
    // add`): their passwords are asked for only when publishers are given.
    expect(res.stderr).not.toContain('COLLECTOR_REPLICATION_PASSWORD');
    const withPublishers = await runCli(['setup'], {
      env: {
        COLLECTOR_SUBSCRIBER_ADMIN_URL: '',
        COLLECTOR_PUBLISHER_ADMIN_URLS: 'pub1=postgres://127.0.0.1:1/collector',
        COLLECTOR_REPLICATION_PASSWORD: '',
      },
    });
    expect(withPublishers.code).toBe(2);
    expect(withPublishers.stderr).toContain('COLLECTOR_REPLICATION_PASSWORD: is required');
  });

  it('creates a user who can then log in, and refuses a duplicate', async () => {
    const name = uniqueTag('u').slice(0, 30);
    const url = collector().subscriberAdminUrl;
    const created = await runCli(
      ['user', 'create', name, '--database-url', url, '--password-stdin'],
      {
        input: 'a-long-password\n',
      },
    );
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout).toContain(`User "${name}" created.`);

    const login = await http<{ token: string }>(`${collector().gatewayUrl}/login/`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `username=${name}&password=a-long-password`,
    });
    expect(login.status).toBe(200);

    const again = await runCli(
      ['user', 'create', name, '--database-url', url, '--password-stdin'],
      {
        input: 'another-password',
      },
    );
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`User "${name}" already exists`);
  });

  it('user create --admin creates an admin; without it, a plain user', async () => {
    const url = collector().subscriberAdminUrl;
    const admin = uniqueTag('a').slice(0, 30);
    const plain = uniqueTag('p').slice(0, 30);
    const made = await runCli(
      ['user', 'create', admin, '--admin', '--database-url', url, '--password-stdin'],
      { input: 'a-long-password\n' },
    );
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    expect(made.stdout).toContain(`User "${admin}" created (admin).`);
    const other = await runCli(
      ['user', 'create', plain, '--database-url', url, '--password-stdin'],
      { input: 'a-long-password\n' },
    );
    expect(other.code).toBe(0);
    for (const [name, role] of [
      [admin, 'ADMIN'],
      [plain, 'USER'],
    ] as const) {
      const login = await http<{ token: string }>(`${collector().gatewayUrl}/login`, {
        method: 'POST',
        json: { username: name, password: 'a-long-password' },
      });
      const me = await gql<{ me: { role: string } }>('{ me { role } }', {}, login.body.token);
      expect(me.body.data?.me.role).toBe(role);
    }
    // Only a new user gets a role this way.
    const bad = await runCli(['user', 'set-password', plain, '--admin', '--database-url', url]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown option '--admin'");
    const help = await runCli(['user', 'create', '--help']);
    expect(help.stdout).toContain('--admin');
  });

  it('generates and prints a password when none is piped, and sets passwords', async () => {
    const name = uniqueTag('g').slice(0, 30);
    const url = collector().subscriberAdminUrl;
    const res = await runCli(['user', 'create', name, '--database-url', url]);
    expect(res.code).toBe(0);
    const password = /Password: (\S+)/.exec(res.stdout)?.[1];
    expect(password?.length).toBeGreaterThanOrEqual(16);
    const set = await runCli(
      ['user', 'set-password', name, '--database-url', url, '--password-stdin'],
      {
        input: 'changed-password',
      },
    );
    expect(set.code).toBe(0);
    const login = await http(`${collector().gatewayUrl}/login`, {
      method: 'POST',
      json: { username: name, password: 'changed-password' },
    });
    expect(login.status).toBe(200);
  });

  it('explains a weak password or a bad username', async () => {
    const url = collector().subscriberAdminUrl;
    const weak = await runCli(
      ['user', 'create', 'someone', '--database-url', url, '--password-stdin'],
      {
        input: 'short',
      },
    );
    expect(weak.code).toBe(1);
    expect(weak.stderr).toContain('at least 8 characters');
    const bad = await runCli(['user', 'create', 'no spaces', '--database-url', url]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('Username must be');
  });
});
