/**
 * One small validator for environment variables. Every process reads `process.env` only through
 * a schema built from these helpers, so a bad value fails fast with a one-line message naming the
 * variable, and compose.yaml can be checked against the same list of names.
 */

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export interface Setting<T> {
  /** Environment variable name. */
  name: string;
  /** What the variable is for, shown in errors and `--help`. */
  description: string;
  parse(raw: string | undefined, env: Env): T;
}

export type Schema = Record<string, Setting<unknown>>;
export type ConfigOf<S extends Schema> = {
  [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

class Invalid extends Error {}

export function isProduction(env: Env = process.env): boolean {
  return env.NODE_ENV === 'production';
}

/** Reads every setting; collects all problems so one run shows them all. */
export function readConfig<S extends Schema>(schema: S, env: Env = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(schema)) {
    const raw = env[setting.name];
    try {
      out[key] = setting.parse(raw === '' ? undefined : raw, env);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      problems.push(`${setting.name}: ${e.message} (${setting.description})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

/** The environment variable names a schema reads. */
export function envNames(schema: Schema): string[] {
  return Object.values(schema).map((s) => s.name);
}

interface Opts<T> {
  default?: T;
  /** Required when NODE_ENV=production even if a default exists for development. */
  requiredInProduction?: boolean;
  /** Unset (outside the production rule above) gives undefined instead of an error. */
  optional?: boolean;
}

/** The error a custom `Setting.parse` throws for a bad value. */
export const invalid = (message: string) => new Invalid(message);

function setting<T>(
  name: string,
  description: string,
  opts: Opts<T>,
  convert: (raw: string) => T,
): Setting<T> {
  return {
    name,
    description,
    parse(raw, env) {
      if (raw === undefined) {
        if (opts.requiredInProduction && isProduction(env)) {
          throw new Invalid('is required when NODE_ENV=production');
        }
        if (opts.default !== undefined) return opts.default;
        if (opts.optional) return undefined as T;
        throw new Invalid('is required');
      }
      return convert(raw);
    },
  };
}

export function str(name: string, description: string, opts: Opts<string> = {}): Setting<string> {
  return setting(name, description, opts, (raw) => raw);
}

/** Fewest bits per character (Shannon, over the key's own characters) a key may have. */
export const MIN_SECRET_BITS_PER_CHAR = 2.5;

/**
 * Bits per character of `text`, estimated from how often each of its characters occurs. Random
 * hex (openssl rand -hex 32) scores about 3.8 and never came near 2.5 in a million tries even at
 * its shortest (32 characters: 2.84 was the lowest); base64 scores about 5. One letter repeated
 * scores 0, "abab…" 1.
 */
export function bitsPerChar(text: string): number {
  const counts = new Map<string, number>();
  const chars = [...text];
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / chars.length) * Math.log2(n / chars.length);
  return bits;
}

/** The shortest string that `text` repeats ("pass" for "passpasspass"), if it repeats one. */
export function repeatedUnit(text: string): string | undefined {
  for (let period = 1; period <= text.length / 2; period++) {
    let repeats = true;
    for (let i = period; i < text.length && repeats; i++) repeats = text[i] === text[i - period];
    if (repeats) return text.slice(0, period);
  }
  return undefined;
}

/**
 * A signing key: a minimum length everywhere, enough variety to be a generated key rather than a
 * typed one, and (unless told otherwise) no default in production.
 */
export function secret(
  name: string,
  description: string,
  minLength: number,
  opts: { requiredInProduction?: boolean } = {},
): Setting<string | undefined> {
  return setting<string | undefined>(
    name,
    description,
    { requiredInProduction: opts.requiredInProduction ?? true, optional: true },
    (raw) => {
      checkSecret(raw, minLength);
      // No estimate tells a random key from every pattern; these catch what people type instead
      // of a key: one letter or a word over and over, or a few characters in any order.
      const unit = repeatedUnit(raw);
      const bits = bitsPerChar(raw);
      const why = unit
        ? `"${unit.length > 8 ? `${unit.slice(0, 8)}…` : unit}" repeated`
        : bits < MIN_SECRET_BITS_PER_CHAR
          ? `${new Set(raw).size} distinct characters, ${bits.toFixed(1)} bits each where ` +
            `${MIN_SECRET_BITS_PER_CHAR} are needed`
          : undefined;
      if (why) {
        throw new Invalid(
          `is too predictable to be a key (${why}): generate one with openssl rand -hex 32`,
        );
      }
      return raw;
    },
  );
}

export function int(
  name: string,
  description: string,
  opts: Opts<number> & { min?: number; max?: number } = {},
): Setting<number> {
  return setting(name, description, opts, (raw) => {
    if (!/^-?\d+$/.test(raw.trim())) throw new Invalid(`must be an integer, got "${raw}"`);
    const n = Number(raw);
    if (opts.min !== undefined && n < opts.min) throw new Invalid(`must be >= ${opts.min}`);
    if (opts.max !== undefined && n > opts.max) throw new Invalid(`must be <= ${opts.max}`);
    return n;
  });
}

export function port(name: string, description: string, def?: number): Setting<number> {
  return int(name, description, { default: def, min: 0, max: 65535 });
}

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** A byte size: `1048576`, `512kb`, `1mb`. */
export function bytes(name: string, description: string, def: number): Setting<number> {
  return setting(name, description, { default: def }, (raw) => {
    const m = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(raw.trim());
    if (!m) throw new Invalid(`must be a size like 1048576, 512kb or 1mb, got "${raw}"`);
    const n = Number(m[1]) * (SIZE_UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
    if (n < 1) throw new Invalid('must be at least 1 byte');
    return n;
  });
}

const DURATION_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/** A duration with its unit: `500ms`, `30s`, `5m`, `24h`, `7d`; parsed to milliseconds. */
export function duration(
  name: string,
  description: string,
  def: number,
  opts: { min?: number; max?: number } = {},
): Setting<number> {
  return setting(name, description, { default: def }, (raw) => {
    const m = /^(\d+)\s*(ms|s|m|h|d)$/i.exec(raw.trim());
    if (!m) {
      throw new Invalid(
        `must be a duration with its unit, like 500ms, 30s, 5m or 24h, got "${raw}"`,
      );
    }
    const ms = Number(m[1]) * (DURATION_UNITS[(m[2] ?? '').toLowerCase()] ?? 1);
    if (opts.min !== undefined && ms < opts.min)
      throw new Invalid(`must be at least ${opts.min} ms`);
    if (opts.max !== undefined && ms > opts.max)
      throw new Invalid(`must be at most ${opts.max} ms`);
    return ms;
  });
}

export function postgresUrl(name: string, description: string): Setting<string> {
  return setting(name, description, {}, (raw) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Invalid('must be a URL like postgres://user:password@host:5432/collector');
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new Invalid(`must start with postgres://, got "${url.protocol}//"`);
    }
    checkUrlPassword(raw);
    return raw;
  });
}

export function oneOf<T extends string>(
  name: string,
  description: string,
  values: readonly T[],
  def: T,
): Setting<T> {
  return setting(name, description, { default: def }, (raw) => {
    if (!values.includes(raw as T)) throw new Invalid(`must be one of ${values.join(', ')}`);
    return raw as T;
  });
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function logLevel(): Setting<LogLevel> {
  return oneOf('COLLECTOR_LOG_LEVEL', 'server log level', LOG_LEVELS, 'info');
}

/** A database URL whose password is still an .env.example placeholder is refused too. */
function checkUrlPassword(raw: string): void {
  if (/replace-me/i.test(raw)) {
    throw new Invalid('holds a placeholder password from .env.example: set a real one');
  }
}

/** Length and placeholder checks shared by every secret setting. */
function checkSecret(raw: string, minLength: number): string {
  if (raw.length < minLength) throw new Invalid(`must be at least ${minLength} characters`);
  // The placeholders of .env.example are public: copying the file unchanged must not run.
  if (/replace-me/i.test(raw)) {
    throw new Invalid(
      'is still the placeholder from .env.example: generate one (openssl rand -hex 32)',
    );
  }
  return raw;
}

/**
 * A database role password: always required, and printable ASCII without spaces. It goes into
 * connection strings, and into SCRAM verifiers computed here (no SASLprep needed for ASCII).
 */
export function dbPassword(name: string, description: string, minLength: number): Setting<string> {
  return setting(name, description, {}, (raw) => {
    if (!/^[\x21-\x7e]+$/.test(raw)) {
      throw new Invalid('must be printable ASCII without spaces (openssl rand -hex 24 makes one)');
    }
    return checkSecret(raw, minLength);
  });
}

/** An optional password (unset means "generate one"), with a minimum length when set. */
export function optionalPassword(
  name: string,
  description: string,
  minLength: number,
  opts: { requiredInProduction?: boolean } = {},
): Setting<string | undefined> {
  return setting<string | undefined>(name, description, { ...opts, optional: true }, (raw) =>
    checkSecret(raw, minLength),
  );
}

/** `name=postgres://…` pairs separated by commas or whitespace. */
export function namedUrls(
  name: string,
  description: string,
): Setting<Array<{ name: string; url: string }>> {
  return setting(name, description, {}, (raw) => {
    const items = raw.split(/[\s,]+/).filter(Boolean);
    if (items.length === 0) throw new Invalid('lists no publisher');
    return items.map((item) => {
      const eq = item.indexOf('=');
      const key = item.slice(0, eq);
      const url = item.slice(eq + 1);
      if (eq < 1 || !/^postgres(ql)?:\/\//.test(url)) {
        throw new Invalid(
          `"${item}" is not of the form name=postgres://user:password@host:5432/db`,
        );
      }
      checkUrlPassword(url);
      return { name: key, url };
    });
  });
}
