/**
 * compose.yaml cannot be run here (no Docker engine), so it is checked against the code instead:
 * the commands exist, every variable a service sets is one its process reads (same schemas the
 * processes use), every required setting is set, the publishers are wired to their own databases,
 * no secret has a literal value, and .env.example provides every interpolated variable with
 * values the real config readers accept. Pure parsing: no Docker, no build needed.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { publisherAddSchema, subscriberSetupSchema } from '../collector/config.js';
import { PUBLISHER_NAME_RE, replicationConninfo } from '../collector/setup.js';
import { ConfigError, envNames, readConfig, type Schema } from '../common/env.js';
import { publisherSchema } from '../publisher-api/config.js';
import { gatewaySchema } from '../subscriber-graphql/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

type EnvValue = string | number | boolean | null;

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Record<string, EnvValue> | string[];
  ports?: string[];
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[] };
  restart?: string;
}

interface Compose {
  services: Record<string, Service>;
}

type Vars = Record<string, string>;

/**
 * The processes of the image, by command, with the schema each one reads its environment with.
 * `<name>` in args stands for a publisher's name.
 */
const PROCESSES = [
  { kind: 'publisher', entry: 'dist/publisher-api/main.js', args: [], schema: publisherSchema },
  { kind: 'gateway', entry: 'dist/subscriber-graphql/main.js', args: [], schema: gatewaySchema },
  { kind: 'setup', entry: 'dist/collector/cli.js', args: ['setup'], schema: subscriberSetupSchema },
  {
    kind: 'add',
    entry: 'dist/collector/cli.js',
    args: ['publishers', 'add', '<name>'],
    schema: publisherAddSchema,
  },
] as const satisfies ReadonlyArray<{
  kind: string;
  entry: string;
  args: readonly string[];
  schema: Schema;
}>;

type Process = (typeof PROCESSES)[number];

function loadCompose(): Compose {
  // `<<` merge keys (the x-collector-app and x-postgres anchors): YAML 1.1, supported by compose.
  return parse(read('compose.yaml'), { merge: true }) as Compose;
}

/** KEY=value lines of a dotenv file. */
function readEnvFile(file: string): Vars {
  const vars: Vars = {};
  for (const line of read(file).split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1]) vars[m[1]] = (m[2] ?? '').trim();
  }
  return vars;
}

/** ENV KEY=value of the Dockerfile's last stage: what every container starts with. */
function imageEnv(): Vars {
  const stages = read('Dockerfile').split(/^FROM\s/m);
  const lastStage = stages.at(-1) ?? '';
  return Object.fromEntries(
    [...lastStage.matchAll(/^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/gm)].map((m) => [
      m[1] as string,
      m[2] as string,
    ]),
  );
}

function environment(svc: Service): Record<string, string | null> {
  const env = svc.environment ?? {};
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((item) => {
        const eq = item.indexOf('=');
        return eq < 0 ? [item, null] : [item.slice(0, eq), item.slice(eq + 1)];
      }),
    );
  }
  return Object.fromEntries(
    Object.entries(env).map(([k, v]) => [k, v === null ? null : String(v)]),
  );
}

function commandArgs(svc: Service): string[] {
  const cmd = svc.command ?? [];
  return Array.isArray(cmd) ? cmd.map(String) : cmd.trim().split(/\s+/);
}

function processOf(svc: Service): Process | undefined {
  const [node, entry, ...args] = commandArgs(svc);
  return PROCESSES.find(
    (p) =>
      node === 'node' &&
      entry === p.entry &&
      args.length === p.args.length &&
      p.args.every((a: string, i) =>
        a === '<name>' ? PUBLISHER_NAME_RE.test(args[i] ?? '') : a === args[i],
      ),
  );
}

/** The publisher a `publishers add <name>` service adds. */
const addedName = (svc: Service) => commandArgs(svc)[4] ?? '';

function appServices(compose: Compose): Array<[string, Service, Process]> {
  return Object.entries(compose.services).flatMap(([name, svc]) => {
    const proc = processOf(svc);
    return proc ? [[name, svc, proc] as [string, Service, Process]] : [];
  });
}

const isPostgres = (svc: Service) => /^postgres(:|$)/.test(svc.image ?? '');

interface Interpolation {
  name: string;
  /** '', ':-', '-', ':?', '?', ':+' or '+' */
  op: string;
  raw: string;
}

const INTERPOLATION_RE =
  /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

function interpolations(text: string): Interpolation[] {
  return [...text.matchAll(INTERPOLATION_RE)].flatMap((m) => {
    const name = m[1] ?? m[4];
    return name ? [{ name, op: m[2] ?? '', raw: m[0] }] : []; // `$$` is a literal `$`
  });
}

/** Compose's interpolation, strict: every variable must be provided. */
function substitute(text: string, vars: Vars): string {
  return text.replace(INTERPOLATION_RE, (whole, braced?: string, _op?: string, _a?, bare?) => {
    const name = braced ?? bare;
    if (!name) return '$';
    const value = vars[name];
    if (value === undefined) throw new Error(`${name} is not provided (${whole})`);
    return value;
  });
}

function resolvedEnv(svc: Service, vars: Vars): Vars {
  return Object.fromEntries(
    Object.entries(environment(svc)).map(([k, v]) => [k, substitute(v ?? '', vars)]),
  );
}

function allStrings(node: unknown): string[] {
  if (typeof node === 'string') return [node];
  if (Array.isArray(node)) return node.flatMap(allStrings);
  if (node && typeof node === 'object') return Object.values(node).flatMap(allStrings);
  return [];
}

/** `-c name=value` settings on a postgres command line. */
function pgSettings(svc: Service): Map<string, string> {
  const args = commandArgs(svc);
  const settings = new Map<string, string>();
  args.forEach((arg, i) => {
    const setting = arg === '-c' ? args[i + 1] : /^--(.+=.*)$/.exec(arg)?.[1];
    const eq = setting?.indexOf('=') ?? -1;
    if (setting && eq > 0) settings.set(setting.slice(0, eq), setting.slice(eq + 1));
  });
  return settings;
}

function dependsOn(svc: Service): Record<string, string | undefined> {
  const deps = svc.depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, undefined]));
  return Object.fromEntries(Object.entries(deps).map(([k, v]) => [k, v?.condition]));
}

/** Names a schema cannot do without when NODE_ENV=production: no default, or required there. */
function requiredNames(schema: Schema): string[] {
  return Object.values(schema)
    .filter((setting) => {
      try {
        readConfig({ setting }, { NODE_ENV: 'production' });
        return false;
      } catch (e) {
        if (e instanceof ConfigError) return true;
        throw e;
      }
    })
    .map((s) => s.name);
}

/** The names the brief of each process spells out, on top of what the schemas compute. */
const MUST_SET: Record<Process['kind'], string[]> = {
  publisher: ['COLLECTOR_PUBLISHER_DATABASE_URL'],
  gateway: ['COLLECTOR_SUBSCRIBER_DATABASE_URL', 'COLLECTOR_JWT_SECRET'],
  setup: ['COLLECTOR_SUBSCRIBER_ADMIN_URL', 'COLLECTOR_GATEWAY_DB_PASSWORD'],
  add: [
    'COLLECTOR_SUBSCRIBER_ADMIN_URL',
    'COLLECTOR_PUBLISHER_ADMIN_URL',
    'COLLECTOR_PUBLISHER_API_DB_PASSWORD',
    'COLLECTOR_REPLICATION_PASSWORD',
  ],
};

// ---- checks: each returns its problems, so the tests below can also run them on broken copies ----

function commandProblems(compose: Compose): string[] {
  const problems: string[] = [];
  const buildInclude = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;
  for (const [name, svc] of Object.entries(compose.services)) {
    if (!svc.build) continue;
    const build = typeof svc.build === 'string' ? { context: svc.build } : svc.build;
    const dockerfile = path.join(build.context ?? '.', build.dockerfile ?? 'Dockerfile');
    if (!existsSync(path.join(root, dockerfile))) problems.push(`${name}: no ${dockerfile}`);
    const [node, entry = ''] = commandArgs(svc);
    const m = /^dist\/(.+)\.js$/.exec(entry);
    if (node !== 'node' || !m?.[1]) {
      problems.push(`${name}: command must be ["node", "dist/….js", …], got ${svc.command}`);
      continue;
    }
    const source = `${m[1]}.ts`;
    if (!existsSync(path.join(root, source))) problems.push(`${name}: ${entry} has no ${source}`);
    if (!buildInclude.includes(source.split('/')[0] ?? '')) {
      problems.push(`${name}: ${source} is not compiled by tsconfig.build.json`);
    }
    if (!processOf(svc))
      problems.push(`${name}: ${commandArgs(svc).join(' ')} is no known process`);
  }
  return problems;
}

function envNameProblems(compose: Compose): string[] {
  return appServices(compose).flatMap(([name, svc, proc]) => {
    const known = envNames(proc.schema);
    return Object.entries(environment(svc)).flatMap(([key, value]) => [
      ...(known.includes(key) ? [] : [`${name}: ${key} is not read by the ${proc.kind} schema`]),
      ...(value === null ? [`${name}: ${key} has no value (it would come from the shell)`] : []),
    ]);
  });
}

function requiredProblems(compose: Compose): string[] {
  const problems: string[] = [];
  for (const [name, svc, proc] of appServices(compose)) {
    const env = environment(svc);
    for (const key of new Set([...requiredNames(proc.schema), ...MUST_SET[proc.kind]])) {
      if (!env[key]) problems.push(`${name}: required ${key} is not set`);
    }
    if (envNames(proc.schema).includes('NODE_ENV') && env.NODE_ENV !== 'production') {
      problems.push(`${name}: NODE_ENV must be production`);
    }
  }
  return problems;
}

const EXACT_SECRET_RE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$/;
const SECRET_NAME_RE = /PASSWORD|SECRET/i;

function secretProblems(compose: Compose): string[] {
  const problems: string[] = [];
  for (const [name, svc] of Object.entries(compose.services)) {
    for (const [key, value] of Object.entries(environment(svc))) {
      if (SECRET_NAME_RE.test(key) && !EXACT_SECRET_RE.test(value ?? '')) {
        problems.push(`${name}: ${key} is not a \${VAR:?…} or \${VAR} interpolation`);
      }
      for (const m of (value ?? '').matchAll(/[a-z]+:\/\/[^:@/\s]*:(\$\{[^}]*\}|[^@\s]*)@/g)) {
        if (!EXACT_SECRET_RE.test(m[1] ?? '')) {
          problems.push(`${name}: the password in ${key} is not a \${VAR:?…} interpolation`);
        }
      }
    }
  }
  for (const i of allStrings(compose).flatMap(interpolations)) {
    if (SECRET_NAME_RE.test(i.name) && !['', '?', ':?'].includes(i.op)) {
      problems.push(`${i.name}: a secret must have no default`);
    }
  }
  return problems;
}

function envExampleProblems(compose: Compose, vars: Vars): string[] {
  const problems: string[] = [];
  const used = new Set(allStrings(compose).flatMap((s) => interpolations(s).map((i) => i.name)));
  for (const name of used) {
    if (vars[name] === undefined) problems.push(`${name} is interpolated but not in .env.example`);
  }
  for (const name of Object.keys(vars)) {
    if (!used.has(name)) problems.push(`.env.example sets ${name}, which compose.yaml never uses`);
  }
  // Interpolated into postgres:// URLs unescaped, so the documented values must be URL-safe.
  for (const s of allStrings(compose).filter((v) => v.includes('://'))) {
    for (const { name } of interpolations(s)) {
      const value = vars[name];
      if (value !== undefined && !/^[A-Za-z0-9._~-]+$/.test(value)) {
        problems.push(`${name} is used in a URL: its example value must be URL-safe`);
      }
    }
  }
  return problems;
}

function hostOf(url: string | undefined): string {
  return url ? new URL(url).hostname : '';
}

function topologyProblems(compose: Compose, vars: Vars): string[] {
  const problems: string[] = [];
  const services = compose.services;
  const apps = appServices(compose);
  const setups = apps.filter(([, , p]) => p.kind === 'setup');
  if (setups.length !== 1) return [`expected one setup service, found ${setups.length}`];
  const [setupName, setupSvc] = setups[0] as [string, Service, Process];
  const setupCfg = readConfig(subscriberSetupSchema, resolvedEnv(setupSvc, vars));
  if (setupSvc.restart !== 'no') problems.push(`${setupName}: a one-shot needs restart "no"`);

  /** A postgres service reached by `url`: same superuser password, database and user. */
  const checkDb = (url: string, what: string, deps: Record<string, string | undefined>) => {
    const u = new URL(url);
    const db = services[u.hostname];
    if (!db || !isPostgres(db)) {
      problems.push(`${what}: ${u.hostname} is not a postgres service`);
      return undefined;
    }
    const env = resolvedEnv(db, vars);
    if (decodeURIComponent(u.password) !== env.POSTGRES_PASSWORD) {
      problems.push(`${what}: the password is not ${u.hostname}'s POSTGRES_PASSWORD`);
    }
    if (u.username !== (env.POSTGRES_USER ?? 'postgres')) {
      problems.push(`${what}: ${u.username} is not ${u.hostname}'s superuser`);
    }
    if (u.pathname !== `/${env.POSTGRES_DB}` || (u.port || '5432') !== '5432') {
      problems.push(`${what}: ${u.host}${u.pathname} is not ${u.hostname}:5432/POSTGRES_DB`);
    }
    if (deps[u.hostname] !== 'service_healthy') {
      problems.push(`${what}: must wait for ${u.hostname} (condition service_healthy)`);
    }
    return db;
  };

  const subscriberHost = hostOf(setupCfg.subscriberAdminUrl);
  const subscriber = checkDb(
    setupCfg.subscriberAdminUrl,
    `${setupName}: COLLECTOR_SUBSCRIBER_ADMIN_URL`,
    dependsOn(setupSvc),
  );

  // One `collector publishers add <name>` one-shot per publisher, on its own database.
  const adds = apps.filter(([, , p]) => p.kind === 'add');
  const names = new Set<string>();
  for (const [addName, addSvc] of adds) {
    const name = addedName(addSvc);
    if (names.has(name)) problems.push(`${addName}: publisher ${name} is added twice`);
    names.add(name);
    if (addName !== `${name}-add`) problems.push(`${addName}: should be named ${name}-add`);
    if (addSvc.restart !== 'no') problems.push(`${addName}: a one-shot needs restart "no"`);
    const cfg = readConfig(publisherAddSchema, resolvedEnv(addSvc, vars));
    const deps = dependsOn(addSvc);
    const dbName = `${name}-db`;
    if (hostOf(cfg.publisherUrl) !== dbName) problems.push(`${addName}: its URL must be ${dbName}`);
    const db = checkDb(cfg.publisherUrl, `${addName}: COLLECTOR_PUBLISHER_ADMIN_URL`, deps);
    if (db && pgSettings(db).get('wal_level') !== 'logical') {
      problems.push(`${dbName}: publishers need -c wal_level=logical`);
    }
    if (cfg.subscriberAdminUrl !== setupCfg.subscriberAdminUrl) {
      problems.push(`${addName}: COLLECTOR_SUBSCRIBER_ADMIN_URL is not setup's`);
    } else {
      checkDb(cfg.subscriberAdminUrl, `${addName}: COLLECTOR_SUBSCRIBER_ADMIN_URL`, deps);
    }
    if (deps[setupName] !== 'service_completed_successfully') {
      problems.push(`${addName}: must start after ${setupName} (service_completed_successfully)`);
    }
    const api = services[`${name}-api`];
    if (!api || processOf(api)?.kind !== 'publisher') {
      problems.push(`${name}: no ${name}-api service running the publisher API`);
      continue;
    }
    if (dependsOn(api)[addName] !== 'service_completed_successfully') {
      problems.push(`${name}-api: must start after ${addName} (service_completed_successfully)`);
    }
    const url = new URL(resolvedEnv(api, vars).COLLECTOR_PUBLISHER_DATABASE_URL ?? '');
    if (url.hostname !== dbName) problems.push(`${name}-api: its database must be ${dbName}`);
    if (url.username !== 'collector_publisher_api') {
      problems.push(`${name}-api: must log in as collector_publisher_api`);
    }
    if (decodeURIComponent(url.password) !== cfg.publisherApiPassword) {
      problems.push(`${name}-api: password is not COLLECTOR_PUBLISHER_API_DB_PASSWORD`);
    }
  }
  for (const [name, , proc] of apps) {
    if (proc.kind === 'publisher' && !names.has(name.replace(/-api$/, ''))) {
      problems.push(`${name}: no ${name.replace(/-api$/, '-add')} adds its publisher`);
    }
  }

  if (subscriber) {
    const settings = pgSettings(subscriber);
    const n = names.size;
    if (Number(settings.get('max_logical_replication_workers') ?? 4) < n) {
      problems.push(`${subscriberHost}: max_logical_replication_workers < ${n} publishers`);
    }
    if (Number(settings.get('max_active_replication_origins') ?? 10) < n) {
      problems.push(`${subscriberHost}: max_active_replication_origins < ${n} publishers`);
    }
  }
  for (const [name, svc, proc] of apps) {
    if (proc.kind === 'gateway') {
      const url = new URL(resolvedEnv(svc, vars).COLLECTOR_SUBSCRIBER_DATABASE_URL ?? '');
      if (url.hostname !== subscriberHost) problems.push(`${name}: not on ${subscriberHost}`);
      if (url.username !== 'collector_gateway') problems.push(`${name}: not collector_gateway`);
      if (decodeURIComponent(url.password) !== setupCfg.gatewayPassword) {
        problems.push(`${name}: password is not COLLECTOR_GATEWAY_DB_PASSWORD`);
      }
      if (dependsOn(svc)[setupName] !== 'service_completed_successfully') {
        problems.push(`${name}: must start after ${setupName} (service_completed_successfully)`);
      }
    }
  }

  for (const [name, svc] of Object.entries(services)) {
    if (!isPostgres(svc)) continue;
    if (name !== subscriberHost && !names.has(name.replace(/-db$/, ''))) {
      problems.push(`${name}: neither the subscriber nor a publisher added by a publishers add`);
    }
    if (!svc.healthcheck?.test) problems.push(`${name}: no healthcheck (setup waits on it)`);
    // PostgreSQL 18 images keep PGDATA in /var/lib/postgresql/18/docker.
    if (!(svc.volumes ?? []).some((v) => v.split(':')[1] === '/var/lib/postgresql')) {
      problems.push(`${name}: mount a named volume at /var/lib/postgresql`);
    }
  }
  return problems;
}

/** Each HTTP service listens on all interfaces, on the port compose publishes and probes. */
function portProblems(compose: Compose): string[] {
  const problems: string[] = [];
  for (const [name, svc, proc] of appServices(compose)) {
    if (proc.kind === 'setup' || proc.kind === 'add') continue;
    const prefix = proc.kind === 'publisher' ? 'COLLECTOR_PUBLISHER' : 'COLLECTOR_GATEWAY';
    const env = environment(svc);
    const port = env[`${prefix}_PORT`];
    if (env[`${prefix}_HOST`] !== '0.0.0.0') problems.push(`${name}: ${prefix}_HOST not 0.0.0.0`);
    if (!port) {
      problems.push(`${name}: ${prefix}_PORT is not set`);
      continue;
    }
    if (!(svc.ports ?? []).some((p) => String(p).split(':').at(-1) === port)) {
      problems.push(`${name}: no published port maps to ${port}`);
    }
    const probe = allStrings(svc.healthcheck?.test ?? []).join(' ');
    // Readiness: a service is healthy when it answers and its database does too.
    if (probe && !probe.includes(`:${port}/ready`)) {
      problems.push(`${name}: the healthcheck does not probe port ${port}/ready`);
    }
  }
  const published = Object.values(compose.services).flatMap((s) =>
    (s.ports ?? []).map((p) => String(p).split(':').slice(0, -1).join(':')),
  );
  for (const p of new Set(published)) {
    if (published.filter((q) => q === p).length > 1) problems.push(`host port ${p} used twice`);
  }
  return problems;
}

/** Compose's interpolation with defaults: `${VAR:-default}` takes the default when VAR is unset. */
function substituteWithDefaults(text: string, vars: Vars): string {
  return text.replace(
    INTERPOLATION_RE,
    (whole, braced?: string, op?: string, arg?: string, bare?) => {
      const name = braced ?? bare;
      if (!name) return '$';
      const value = vars[name];
      if ((op === ':-' && !value) || (op === '-' && value === undefined)) return arg ?? '';
      if (value === undefined) throw new Error(`${name} is not provided (${whole})`);
      return value;
    },
  );
}

/** Host addresses that mean "every interface" in a compose port mapping. */
const ALL_INTERFACES = new Set(['', '0.0.0.0', '::', '[::]']);

/**
 * Publisher APIs are reached through the gateway's network or on this machine: their published
 * ports bind one address (127.0.0.1 by default), never every interface, and they require API keys.
 */
function publisherExposureProblems(compose: Compose, vars: Vars): string[] {
  const problems: string[] = [];
  for (const [name, svc, proc] of appServices(compose)) {
    if (proc.kind !== 'publisher') continue;
    for (const spec of svc.ports ?? []) {
      const parts = substituteWithDefaults(String(spec), vars).split(':');
      // host_ip:host_port:container_port; "8001:8000" (two parts) binds every interface.
      const hostIp = parts.length >= 3 ? parts.slice(0, -2).join(':') : '';
      if (ALL_INTERFACES.has(hostIp)) {
        problems.push(`${name}: port ${spec} is published on every interface`);
      }
    }
    if (environment(svc).COLLECTOR_PUBLISHER_AUTH !== 'required') {
      problems.push(`${name}: COLLECTOR_PUBLISHER_AUTH must be required`);
    }
  }
  return problems;
}

/** Reads each app service's environment (image ENV first) with its process's real reader. */
function readServices(compose: Compose, vars: Vars): void {
  for (const [, svc, proc] of appServices(compose)) {
    readConfig(proc.schema, { ...imageEnv(), ...resolvedEnv(svc, vars) });
  }
}

// ---- the tests ----

const compose = loadCompose();
const vars = readEnvFile('.env.example');

/** .env.example with every placeholder replaced, as its header tells users to do. */
function generated(v: Vars): Vars {
  return Object.fromEntries(
    Object.entries(v).map(([k, value]) => [
      k,
      /replace-me/.test(value) ? randomBytes(24).toString('hex') : value,
    ]),
  );
}
const copy = () => structuredClone(compose);

describe('compose.yaml', () => {
  it('runs the setup, one publishers add per publisher, the publisher APIs and the gateway from the image', () => {
    const kinds = appServices(compose).map(([name, , p]) => `${name}:${p.kind}`);
    expect(kinds.sort()).toEqual([
      'gateway:gateway',
      'pub1-add:add',
      'pub1-api:publisher',
      'pub2-add:add',
      'pub2-api:publisher',
      'setup:setup',
    ]);
    // Exactly the CLI's commands.
    expect(compose.services['pub2-add']?.command).toEqual([
      'node',
      'dist/collector/cli.js',
      'publishers',
      'add',
      'pub2',
    ]);
  });

  it('runs commands whose sources exist and are compiled to dist/', () => {
    expect(commandProblems(compose)).toEqual([]);
  });

  it('sets only variables the process reads, and every one it requires', () => {
    expect(envNameProblems(compose)).toEqual([]);
    expect(requiredProblems(compose)).toEqual([]);
  });

  it('wires each publisher to its own logical-replication database and API', () => {
    expect(topologyProblems(compose, generated(vars))).toEqual([]);
    expect(portProblems(compose)).toEqual([]);
  });

  it('publishes no publisher API on every interface by default, and requires API keys there', () => {
    // With .env.example as shipped, and with the variables unset (compose's defaults).
    expect(publisherExposureProblems(compose, vars)).toEqual([]);
    expect(publisherExposureProblems(compose, {})).toEqual([]);
    for (const [, svc, proc] of appServices(compose)) {
      if (proc.kind !== 'publisher') continue;
      for (const spec of svc.ports ?? []) {
        expect(substituteWithDefaults(String(spec), {})).toMatch(/^127\.0\.0\.1:/);
      }
    }
    // The override is documented and works: every interface when asked for.
    expect(
      substituteWithDefaults(String(compose.services['pub1-api']?.ports?.[0]), {
        PUB1_API_BIND: '0.0.0.0',
      }),
    ).toBe('0.0.0.0:8001:8000');
  });

  it('connects replication with sslmode=verify-full once a CA is given in .env', () => {
    const addSvc = compose.services['pub1-add'] as Service;
    const read = (v: Vars) => readConfig(publisherAddSchema, resolvedEnv(addSvc, v));
    // As shipped: no TLS settings of our own.
    expect(read(generated(vars)).replicationSslRootCert).toBeUndefined();
    const cfg = read({ ...generated(vars), COLLECTOR_REPLICATION_SSLROOTCERT: '/certs/ca.crt' });
    const info = replicationConninfo({ name: 'pub1', adminUrl: cfg.publisherUrl }, 'pw', {
      sslmode: cfg.replicationSslMode,
      sslrootcert: cfg.replicationSslRootCert,
    });
    expect(info).toContain("host='pub1-db'");
    expect(info).toContain("sslmode='verify-full'");
    expect(info).toContain("sslrootcert='/certs/ca.crt'");
  });

  it('gives no secret a literal value or a default', () => {
    expect(secretProblems(compose)).toEqual([]);
  });

  it('interpolates only variables .env.example provides', () => {
    expect(envExampleProblems(compose, vars)).toEqual([]);
  });

  it('passes the real config readers in production once the placeholders are replaced', () => {
    expect(imageEnv().NODE_ENV).toBe('production');
    expect(() => readServices(compose, generated(vars))).not.toThrow();
  });

  it("refuses to run with .env.example's public placeholder secrets", () => {
    expect(() => readServices(compose, vars)).toThrow(/placeholder from \.env\.example/);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM\s/m).slice(1);

  it('builds with npm ci and tsc, and ships production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage).toMatch(/^node:20-bookworm-slim\b/);
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    expect(dockerfile).toMatch(/npm run build\b/);
    expect(dockerfile).toMatch(/npm prune --omit=dev\b/);
  });

  it('ships what the processes read at runtime (common/paths.ts) and runs as node', () => {
    const runtime = stages.at(-1) ?? '';
    for (const item of ['package.json', 'node_modules', 'sql', 'dist']) {
      expect(runtime).toMatch(new RegExp(`^COPY --from=\\S+ /app/${item} `, 'm'));
    }
    expect(runtime).toMatch(/^WORKDIR \/app$/m);
    expect(runtime).toMatch(/^USER node$/m);
  });

  it('keeps secrets and build output out of the build context', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', 'dist', '.collector', '.git', '.env']) {
      expect(ignored).toContain(entry);
    }
  });
});

describe('the compose checks catch mistakes', () => {
  it('a variable no schema reads, or a missing required one', () => {
    const c = copy();
    const api = environment(c.services['pub1-api'] as Service);
    api.COLLECTOR_PUBLISHER_HOSTNAME = api.COLLECTOR_PUBLISHER_HOST ?? '';
    delete api.COLLECTOR_PUBLISHER_HOST;
    (c.services['pub1-api'] as Service).environment = api;
    expect(envNameProblems(c)).toEqual([
      'pub1-api: COLLECTOR_PUBLISHER_HOSTNAME is not read by the publisher schema',
    ]);

    const gw = environment(c.services.gateway as Service);
    delete gw.COLLECTOR_JWT_SECRET;
    (c.services.gateway as Service).environment = gw;
    expect(requiredProblems(c)).toEqual(['gateway: required COLLECTOR_JWT_SECRET is not set']);
  });

  it('a publisher API on every interface, or without required keys', () => {
    const c = copy();
    (c.services['pub1-api'] as Service).ports = ['8001:8000'];
    (c.services['pub2-api'] as Service).ports = ['0.0.0.0:8002:8000'];
    const api = environment(c.services['pub2-api'] as Service);
    delete api.COLLECTOR_PUBLISHER_AUTH;
    (c.services['pub2-api'] as Service).environment = api;
    expect(publisherExposureProblems(c, vars)).toEqual([
      'pub1-api: port 8001:8000 is published on every interface',
      'pub2-api: port 0.0.0.0:8002:8000 is published on every interface',
      'pub2-api: COLLECTOR_PUBLISHER_AUTH must be required',
    ]);
  });

  it('a command that is not built', () => {
    const c = copy();
    (c.services['pub2-api'] as Service).command = ['node', 'dist/publisher-api/mian.js'];
    expect(commandProblems(c).join('\n')).toMatch(/pub2-api: dist\/publisher-api\/mian\.js has no/);
  });

  it('a publisher without wal_level=logical, or an API on the wrong database', () => {
    const c = copy();
    const db = c.services['pub2-db'] as Service;
    db.command = commandArgs(db).join(' ').replace('wal_level=logical', 'wal_level=replica');
    const api = c.services['pub2-api'] as Service;
    const env = environment(api);
    env.COLLECTOR_PUBLISHER_DATABASE_URL = (env.COLLECTOR_PUBLISHER_DATABASE_URL ?? '').replace(
      '@pub2-db:',
      '@pub1-db:',
    );
    api.environment = env;
    expect(topologyProblems(c, generated(vars))).toEqual([
      'pub2-db: publishers need -c wal_level=logical',
      'pub2-api: its database must be pub2-db',
    ]);
  });

  it('a publishers add on the wrong database, under another name, or an API that does not wait for it', () => {
    const c = copy();
    const add = c.services['pub2-add'] as Service;
    const env = environment(add);
    env.COLLECTOR_PUBLISHER_ADMIN_URL = (env.COLLECTOR_PUBLISHER_ADMIN_URL ?? '')
      .replace('@pub2-db:', '@pub1-db:')
      .replace('PUB2_DB', 'PUB1_DB');
    add.environment = env;
    add.depends_on = {
      ...(add.depends_on as Record<string, { condition?: string }>),
      'pub1-db': { condition: 'service_healthy' },
    };
    (c.services['pub1-add'] as Service).command = [
      'node',
      'dist/collector/cli.js',
      'publishers',
      'add',
      'pub9',
    ];
    const api = c.services['pub1-api'] as Service;
    api.depends_on = { setup: { condition: 'service_completed_successfully' } };
    expect(topologyProblems(c, generated(vars))).toEqual([
      'pub1-add: should be named pub9-add',
      'pub1-add: its URL must be pub9-db',
      'pub9: no pub9-api service running the publisher API',
      'pub2-add: its URL must be pub2-db',
      'pub1-api: no pub1-add adds its publisher',
      'pub1-db: neither the subscriber nor a publisher added by a publishers add',
    ]);
  });

  it('a literal secret, a secret with a default, or a variable .env.example lacks', () => {
    const c = copy();
    const db = c.services['pub1-db'] as Service;
    db.environment = { ...environment(db), POSTGRES_PASSWORD: 'hunter2hunter2' };
    const gw = c.services.gateway as Service;
    gw.environment = {
      ...environment(gw),
      COLLECTOR_JWT_SECRET: `\${COLLECTOR_JWT_SECRET:-x}`,
      COLLECTOR_SUBSCRIBER_DATABASE_URL: 'postgres://collector_gateway:pw123456789@subscriber-db/c',
    };
    // Problems name the variable, never its value.
    expect(secretProblems(c).map((p) => p.replace(/ is not a .* interpolation$/, ''))).toEqual([
      'pub1-db: POSTGRES_PASSWORD',
      'gateway: the password in COLLECTOR_SUBSCRIBER_DATABASE_URL',
      'gateway: COLLECTOR_JWT_SECRET',
      'COLLECTOR_JWT_SECRET: a secret must have no default',
    ]);

    const { COLLECTOR_JWT_SECRET: _, ...fewer } = vars;
    expect(envExampleProblems(compose, fewer)).toEqual([
      'COLLECTOR_JWT_SECRET is interpolated but not in .env.example',
    ]);
  });

  it('a placeholder the real reader rejects', () => {
    expect(() =>
      readServices(compose, { ...generated(vars), COLLECTOR_JWT_SECRET: 'too-short' }),
    ).toThrow(ConfigError);
    expect(() =>
      readServices(compose, { ...generated(vars), COLLECTOR_REPLICATION_PASSWORD: 'short' }),
    ).toThrow(/COLLECTOR_REPLICATION_PASSWORD: must be at least 12 characters/);
  });
});
