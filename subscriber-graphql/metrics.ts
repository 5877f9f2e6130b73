/**
 * The gateway's own metrics, beside the HTTP ones of common/metrics.ts:
 *
 * - per publisher, from the fleet monitor's last status (read at scrape time, never fetched per
 *   series): its state as a 1/0 gauge per state, lag, rows received, apply and sync errors,
 *   conflicts by type;
 * - GraphQL operations by name: counts and latency, from an Apollo plugin. Operation names are
 *   chosen by clients, so they are bounded: a name that is not a GraphQL name counts as
 *   `_invalid`, an unnamed operation as `_anonymous`, one that never parsed as `_unparsed`, and
 *   past MAX_OPERATION_NAMES distinct names every new one counts as `_other`.
 */
import type { ApolloServerPlugin } from '@apollo/server';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { PublisherState } from '../collector/fleet.js';
import { LATENCY_BUCKETS } from '../common/metrics.js';
import type { Context } from './context.js';
import type { FleetMonitor } from './services/fleet-monitor.js';

export const PUBLISHER_STATES: PublisherState[] = [
  'streaming',
  'catching up',
  'unreachable',
  'stopped by error',
  'disabled',
  'slot lost',
];

export const MAX_OPERATION_NAMES = 100;
const GRAPHQL_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;

export function fleetMetrics(registry: Registry, monitor: FleetMonitor): void {
  const statuses = () => monitor.latest.statuses;
  new Gauge({
    name: 'collector_publisher_state',
    help: 'A publisher (subscription) is in this state: 1, else 0; one series per state',
    labelNames: ['publisher', 'state'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of statuses()) {
        for (const state of PUBLISHER_STATES) {
          this.set({ publisher: s.name, state }, s.state === state ? 1 : 0);
        }
      }
    },
  });
  const gauge = (
    name: string,
    help: string,
    value: (s: ReturnType<typeof statuses>[number]) => number | null,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: ['publisher'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of statuses()) {
          const v = value(s);
          // Unknown (publisher not asked, or not answering): no sample, rather than a false 0.
          if (v !== null) this.set({ publisher: s.name }, v);
        }
      },
    });
  gauge(
    'collector_publisher_lag_bytes',
    'WAL the publisher holds for the subscription that the subscriber has not confirmed',
    (s) => s.lagBytes,
  );
  gauge(
    'collector_publisher_lag_seconds',
    'Replay lag the publisher reports for the subscription (through collector_slot_lag, or a login with pg_read_all_stats)',
    (s) => s.lagSeconds,
  );
  gauge(
    'collector_publisher_seconds_since_last_message',
    'Seconds since the subscription last received a message from its publisher',
    (s) => s.secondsSinceLastMessage,
  );
  // Counters whose values PostgreSQL keeps: set on each scrape. A reset of the statistics
  // (pg_stat_reset_subscription_stats) reads, correctly, as a counter reset.
  const counter = (
    name: string,
    help: string,
    value: (s: ReturnType<typeof statuses>[number]) => number | null,
  ) =>
    new Counter({
      name,
      help,
      labelNames: ['publisher'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const s of statuses()) {
          const v = value(s);
          // Not known yet (rows still being counted): no sample, rather than a false 0.
          if (v !== null) this.inc({ publisher: s.name }, v);
        }
      },
    });
  counter(
    'collector_publisher_rows_received_total',
    'Rows of this publisher on the subscriber',
    (s) => s.rowsReceived,
  );
  counter(
    'collector_publisher_apply_errors_total',
    'Errors applying changes (pg_stat_subscription_stats.apply_error_count)',
    (s) => s.applyErrorCount,
  );
  counter(
    'collector_publisher_sync_errors_total',
    'Errors copying tables initially (pg_stat_subscription_stats.sync_error_count)',
    (s) => s.syncErrorCount,
  );
  new Counter({
    name: 'collector_publisher_conflicts_total',
    help: 'Conflicts met applying changes, by type (pg_stat_subscription_stats.confl_*)',
    labelNames: ['publisher', 'type'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of statuses()) {
        for (const [type, n] of Object.entries(s.conflicts)) {
          this.inc({ publisher: s.name, type }, n);
        }
      }
    },
  });
  new Counter({
    name: 'collector_publisher_reenabled_total',
    help: 'Times the fleet monitor re-enabled the subscription after its stream broke (disable_on_error)',
    labelNames: ['publisher'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [publisher, n] of monitor.reenabled) this.inc({ publisher }, n);
    },
  });
  new Gauge({
    name: 'collector_fleet_monitor_up',
    help: '1 if the last refresh of the fleet status succeeded, else 0 (the figures are then stale)',
    registers: [registry],
    collect() {
      this.set(monitor.latest.at > 0 && !monitor.latest.error ? 1 : 0);
    },
  });
  new Gauge({
    name: 'collector_fleet_monitor_last_success_timestamp_seconds',
    help: 'When the fleet status was last read successfully (0: never)',
    registers: [registry],
    collect() {
      this.set(monitor.latest.at / 1000);
    },
  });
  new Gauge({
    name: 'collector_fleet_monitor_refresh_duration_seconds',
    help: 'How long the last refresh of the fleet status took',
    registers: [registry],
    collect() {
      this.set(monitor.latest.durationSeconds ?? 0);
    },
  });
}

/** `collector_graphql_requests_total` and `collector_graphql_request_duration_seconds`. */
export function graphqlMetricsPlugin(registry: Registry): ApolloServerPlugin<Context> {
  // Answered so far, by `operation type outcome`: plain numbers, handed to the Counter at scrape
  // time (prom-client hashes the labels of every inc, as of every observe).
  const counts = new Map<string, { labels: Record<string, string>; n: number }>();
  new Counter({
    name: 'collector_graphql_requests_total',
    help: 'GraphQL operations answered, by operation name, type and outcome (ok, error)',
    labelNames: ['operation', 'type', 'outcome'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const c of counts.values()) this.inc(c.labels, c.n);
    },
  });
  const duration = new Histogram({
    name: 'collector_graphql_request_duration_seconds',
    help: 'Time to answer a GraphQL operation (parse, validate, execute), by operation name and type',
    labelNames: ['operation', 'type'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const count = (operation: string, type: string, outcome: string) => {
    const key = `${operation} ${type} ${outcome}`;
    const c = counts.get(key);
    if (c) c.n++;
    else counts.set(key, { labels: { operation, type, outcome }, n: 1 });
  };
  const names = new Set<string>();
  const operationLabel = (parsed: boolean, name: string | null | undefined): string => {
    if (!parsed) return '_unparsed';
    if (!name) return '_anonymous';
    if (!GRAPHQL_NAME.test(name)) return '_invalid';
    if (names.has(name)) return name;
    if (names.size >= MAX_OPERATION_NAMES) return '_other';
    names.add(name);
    return name;
  };
  return {
    async requestDidStart() {
      const began = performance.now();
      return {
        async willSendResponse(rc) {
          const seconds = (performance.now() - began) / 1000;
          const operation = operationLabel(
            rc.document !== undefined,
            rc.operationName ?? rc.request.operationName,
          );
          const type = rc.operation?.operation ?? 'none';
          const body = rc.response.body;
          const failed =
            (rc.errors?.length ?? 0) > 0 ||
            (body.kind === 'single' && (body.singleResult.errors?.length ?? 0) > 0);
          count(operation, type, failed ? 'error' : 'ok');
          duration.observe({ operation, type }, seconds);
        },
      };
    },
  };
}
