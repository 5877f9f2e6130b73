/**
 * Filters as data: a small typed tree (what the GraphQL `DataFilter` input holds) compiled to one
 * SQL condition. Every value, key, path element and jsonpath text is a bound parameter, never SQL
 * text. Conditions are written the way PostgreSQL's indexes can serve them: containment (`@>`),
 * key tests (`?`, `?|`, `?&`) and jsonpath (`@@`) use the GIN index on `data`; a path equality on
 * object keys adds a containment test for the index, and checks the exact value after it.
 *
 * Comparisons are typed by the value given: `gt: 100` compares JSON numbers numerically, `gt: "a"`
 * compares JSON strings; a row whose value at the path has another type does not match (CASE keeps
 * PostgreSQL from ever casting a string to numeric).
 */
import { type RawBuilder, sql } from 'kysely';
import { badInput } from './errors.js';
import { isUuid } from './keyset.js';
import { RawJson, stringifyJson } from './raw-json.js';

export interface StringFilter {
  eq?: string | null;
  ne?: string | null;
  in?: string[] | null;
  notIn?: string[] | null;
}

export interface UuidFilter {
  eq?: string | null;
  in?: string[] | null;
}

export interface DateTimeFilter {
  gt?: Date | null;
  gte?: Date | null;
  lt?: Date | null;
  lte?: Date | null;
}

export interface JsonPathCondition {
  path: string[];
  eq?: unknown;
  ne?: unknown;
  gt?: unknown;
  gte?: unknown;
  lt?: unknown;
  lte?: unknown;
  in?: unknown[] | null;
  like?: string | null;
  ilike?: string | null;
  exists?: boolean | null;
  isNull?: boolean | null;
}

export interface JsonFilter {
  contains?: unknown;
  containedBy?: unknown;
  hasKey?: string | null;
  hasAnyKeys?: string[] | null;
  hasAllKeys?: string[] | null;
  path?: JsonPathCondition[] | null;
  matches?: string | null;
}

export interface AnnotationFilter {
  and?: AnnotationFilter[] | null;
  or?: AnnotationFilter[] | null;
  not?: AnnotationFilter | null;
  author?: StringFilter | null;
  body?: JsonFilter | null;
  createdAt?: DateTimeFilter | null;
}

export interface DataFilter {
  and?: DataFilter[] | null;
  or?: DataFilter[] | null;
  not?: DataFilter | null;
  id?: UuidFilter | null;
  publisher?: StringFilter | null;
  createdAt?: DateTimeFilter | null;
  receivedAt?: DateTimeFilter | null;
  data?: JsonFilter | null;
  annotated?: boolean | null;
  annotations?: AnnotationFilter | null;
}

type Cond = RawBuilder<boolean>;

/** More conditions than this in one filter is refused: a page must stay one cheap statement. */
export const MAX_FILTER_CONDITIONS = 100;

const TRUE: Cond = sql<boolean>`true`;

function all(conds: Cond[]): Cond {
  if (conds.length === 0) return TRUE;
  if (conds.length === 1) return conds[0] as Cond;
  return sql<boolean>`(${sql.join(conds, sql` and `)})`;
}

function any(conds: Cond[]): Cond {
  if (conds.length === 0) return sql<boolean>`false`;
  if (conds.length === 1) return conds[0] as Cond;
  return sql<boolean>`(${sql.join(conds, sql` or `)})`;
}

const given = <T>(v: T | null | undefined): v is T => v !== undefined && v !== null;

/** The JSON type a filter value has, as jsonb_typeof names it. */
function jsonType(value: unknown): 'number' | 'string' | 'boolean' | 'null' | 'object' | 'array' {
  if (value === null) return 'null';
  if (value instanceof RawJson || typeof value === 'number') return 'number';
  if (typeof value === 'string') return 'string';
  if (typeof value === 'boolean') return 'boolean';
  return Array.isArray(value) ? 'array' : 'object';
}

/** JSON text of a filter value, numbers exact (RawJson). */
const jsonText = (value: unknown): string => stringifyJson(value) ?? 'null';

class Compiler {
  private count = 0;

  private tick(): void {
    this.count += 1;
    if (this.count > MAX_FILTER_CONDITIONS) {
      throw badInput(
        `The filter has more than ${MAX_FILTER_CONDITIONS} conditions: split the query, or use "matches" with one jsonpath predicate`,
      );
    }
  }

  string(column: RawBuilder<unknown>, f: StringFilter): Cond[] {
    const out: Cond[] = [];
    if (given(f.eq)) out.push(sql<boolean>`${column} = ${f.eq}`);
    if (given(f.ne)) out.push(sql<boolean>`${column} <> ${f.ne}`);
    if (given(f.in)) out.push(sql<boolean>`${column} = any(${f.in}::text[])`);
    if (given(f.notIn)) out.push(sql<boolean>`not (${column} = any(${f.notIn}::text[]))`);
    for (const _ of out) this.tick();
    return out;
  }

  time(column: RawBuilder<unknown>, f: DateTimeFilter): Cond[] {
    const out: Cond[] = [];
    const at = (d: Date) => d.toISOString();
    if (given(f.gt)) out.push(sql<boolean>`${column} > ${at(f.gt)}::timestamptz`);
    if (given(f.gte)) out.push(sql<boolean>`${column} >= ${at(f.gte)}::timestamptz`);
    if (given(f.lt)) out.push(sql<boolean>`${column} < ${at(f.lt)}::timestamptz`);
    if (given(f.lte)) out.push(sql<boolean>`${column} <= ${at(f.lte)}::timestamptz`);
    for (const _ of out) this.tick();
    return out;
  }

  json(doc: RawBuilder<unknown>, f: JsonFilter): Cond[] {
    const out: Cond[] = [];
    if (f.contains !== undefined) out.push(sql<boolean>`${doc} @> ${jsonText(f.contains)}::jsonb`);
    if (f.containedBy !== undefined) {
      out.push(sql<boolean>`${doc} <@ ${jsonText(f.containedBy)}::jsonb`);
    }
    if (given(f.hasKey)) out.push(sql<boolean>`${doc} ? ${f.hasKey}`);
    if (given(f.hasAnyKeys)) out.push(sql<boolean>`${doc} ?| ${f.hasAnyKeys}::text[]`);
    if (given(f.hasAllKeys)) out.push(sql<boolean>`${doc} ?& ${f.hasAllKeys}::text[]`);
    if (given(f.matches)) out.push(sql<boolean>`${doc} @@ ${f.matches}::jsonpath`);
    for (const _ of out) this.tick();
    for (const p of f.path ?? []) out.push(...this.path(doc, p));
    return out;
  }

  path(doc: RawBuilder<unknown>, c: JsonPathCondition): Cond[] {
    if (c.path.length === 0) throw badInput('A JSON path condition needs at least one key');
    const p = sql`${c.path}::text[]`;
    const value = sql`(${doc} #> ${p})`;
    const text = sql`(${doc} #>> ${p})`;
    const out: Cond[] = [];
    const typed = (op: string, v: unknown) => {
      const type = jsonType(v);
      if (type === 'number') {
        return sql<boolean>`(case when jsonb_typeof(${value}) = 'number' then ${value}::numeric ${sql.raw(op)} ${jsonText(v)}::numeric end)`;
      }
      if (type === 'string') {
        return sql<boolean>`(case when jsonb_typeof(${value}) = 'string' then ${text} ${sql.raw(op)} ${v as string} end)`;
      }
      throw badInput(
        `A JSON path comparison (${op}) takes a number or a string, got ${type}: use eq or ne for ${type}s`,
      );
    };
    if (c.eq !== undefined) {
      const exact = sql<boolean>`${value} = ${jsonText(c.eq)}::jsonb`;
      // Object keys only (no array index): an equivalent containment test lets the GIN index
      // find candidates; the exact comparison then decides.
      if (c.path.every((k) => !/^\d+$/.test(k))) {
        const nested = c.path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), c.eq);
        out.push(sql<boolean>`(${doc} @> ${jsonText(nested)}::jsonb and ${exact})`);
      } else out.push(exact);
    }
    if (c.ne !== undefined) {
      out.push(
        sql<boolean>`(jsonb_typeof(${value}) = ${jsonType(c.ne)} and ${value} <> ${jsonText(c.ne)}::jsonb)`,
      );
    }
    if (c.gt !== undefined) out.push(typed('>', c.gt));
    if (c.gte !== undefined) out.push(typed('>=', c.gte));
    if (c.lt !== undefined) out.push(typed('<', c.lt));
    if (c.lte !== undefined) out.push(typed('<=', c.lte));
    if (given(c.in)) {
      out.push(
        sql<boolean>`${value} = any(array(select jsonb_array_elements(${jsonText(c.in)}::jsonb)))`,
      );
    }
    if (given(c.like)) {
      out.push(
        sql<boolean>`(case when jsonb_typeof(${value}) = 'string' then ${text} like ${c.like} end)`,
      );
    }
    if (given(c.ilike)) {
      out.push(
        sql<boolean>`(case when jsonb_typeof(${value}) = 'string' then ${text} ilike ${c.ilike} end)`,
      );
    }
    if (given(c.exists)) {
      out.push(c.exists ? sql<boolean>`${value} is not null` : sql<boolean>`${value} is null`);
    }
    if (given(c.isNull)) {
      out.push(
        c.isNull
          ? sql<boolean>`(${value} is null or ${value} = 'null'::jsonb)`
          : sql<boolean>`(${value} is not null and ${value} <> 'null'::jsonb)`,
      );
    }
    if (out.length === 0) {
      throw badInput(
        `The JSON path condition on ${JSON.stringify(c.path)} tests nothing: add eq, gt, exists, …`,
      );
    }
    for (const _ of out) this.tick();
    return out;
  }

  annotation(f: AnnotationFilter): Cond {
    const out: Cond[] = [];
    for (const g of f.and ?? []) out.push(this.annotation(g));
    if (given(f.or)) out.push(any(f.or.map((g) => this.annotation(g))));
    if (given(f.not)) out.push(sql<boolean>`not coalesce(${this.annotation(f.not)}, false)`);
    if (given(f.author)) out.push(...this.string(sql.ref('a.author'), f.author));
    if (given(f.body)) out.push(...this.json(sql.ref('a.body'), f.body));
    if (given(f.createdAt)) out.push(...this.time(sql.ref('a.created_at'), f.createdAt));
    return all(out);
  }

  data(f: DataFilter): Cond {
    const out: Cond[] = [];
    for (const g of f.and ?? []) out.push(this.data(g));
    if (given(f.or)) out.push(any(f.or.map((g) => this.data(g))));
    // A typed comparison is NULL (unknown) for a value of another type: not of it must match.
    if (given(f.not)) out.push(sql<boolean>`not coalesce(${this.data(f.not)}, false)`);
    if (given(f.id)) {
      const ids = [...(given(f.id.eq) ? [f.id.eq] : []), ...(f.id.in ?? [])];
      for (const id of ids) if (!isUuid(id)) throw badInput(`"${id}" is not a UUID`);
      if (given(f.id.eq)) out.push(sql<boolean>`data.id = ${f.id.eq.toLowerCase()}::uuid`);
      if (given(f.id.in)) {
        out.push(sql<boolean>`data.id = any(${f.id.in.map((i) => i.toLowerCase())}::uuid[])`);
      }
    }
    if (given(f.publisher)) out.push(...this.string(sql.ref('data.publisher'), f.publisher));
    if (given(f.createdAt)) out.push(...this.time(sql.ref('data.created_at'), f.createdAt));
    if (given(f.receivedAt)) out.push(...this.time(sql.ref('data.received_at'), f.receivedAt));
    if (given(f.data)) out.push(...this.json(sql.ref('data.data'), f.data));
    if (given(f.annotated)) {
      this.tick();
      const exists = sql<boolean>`exists (select 1 from annotation a where a.data_id = data.id)`;
      out.push(f.annotated ? exists : sql<boolean>`not ${exists}`);
    }
    if (given(f.annotations)) {
      this.tick();
      out.push(
        sql<boolean>`exists (select 1 from annotation a where a.data_id = data.id and ${this.annotation(f.annotations)})`,
      );
    }
    return all(out);
  }
}

/** One SQL condition on table `data` (aliased `data`) for a filter tree. */
export function dataFilterSql(filter: DataFilter): Cond {
  return new Compiler().data(filter);
}

/** One SQL condition on table `annotation` (aliased `a`) for an annotation filter. */
export function annotationFilterSql(filter: AnnotationFilter): Cond {
  return new Compiler().annotation(filter);
}
