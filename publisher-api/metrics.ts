/**
 * The publisher API's own figures, beside the HTTP ones of common/metrics.ts: rows stored, and
 * how group commit batches single-row inserts. Group commit already counts its flushes and rows
 * (group-commit.ts, `stats`); they are read at scrape time, so the ingest path pays nothing more.
 */
import { Counter, type Registry } from 'prom-client';
import type { GroupCommitStats } from './group-commit.js';

export interface PublisherMetrics {
  /** Rows this process stored (POST /data, and every item of POST /data/batch). */
  rowsInserted: Counter;
}

export function publisherMetrics(registry: Registry, stats: GroupCommitStats): PublisherMetrics {
  const rowsInserted = new Counter({
    name: 'collector_publisher_rows_inserted_total',
    help: 'Rows stored by this publisher API (Idempotency-Key replays not counted)',
    registers: [registry],
  });
  // Counters whose value lives elsewhere: set from `stats` on each scrape.
  new Counter({
    name: 'collector_publisher_group_commit_flushes_total',
    help: 'Multi-row INSERTs run by group commit (single-row POST /data without Idempotency-Key)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.flushes);
    },
  });
  new Counter({
    name: 'collector_publisher_group_commit_rows_total',
    help: 'Rows written by group commit flushes; divided by flushes, the mean batch size',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(stats.rows);
    },
  });
  return { rowsInserted };
}
