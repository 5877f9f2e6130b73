/**
 * Reads a /metrics answer with parse-prometheus-text-format, a real parser of the text format
 * (never a regex over it). Version 1.1.1 merges a histogram that has labels into one sample and
 * drops the labels; so histograms are read a second time with their TYPE line left out, which
 * gives their `_bucket`, `_sum` and `_count` series as plain families, labels kept (the parser then
 * starts a family at each change of name, so the pieces of one name are put back together).
 */
import parse, { type PrometheusFamily, type PrometheusSample } from 'parse-prometheus-text-format';

export type { PrometheusFamily, PrometheusSample };

export function parseMetrics(text: string): PrometheusFamily[] {
  const typed = parse(text);
  const histograms = typed.filter((f) => f.type === 'HISTOGRAM').map((f) => f.name);
  const untyped = parse(
    text
      .split('\n')
      .filter((l) => !/^# TYPE \S+ histogram$/.test(l))
      .join('\n'),
  );
  const parts = new Map<string, PrometheusFamily>();
  for (const f of untyped) {
    const of = histograms.some((h) => [`${h}_bucket`, `${h}_sum`, `${h}_count`].includes(f.name));
    if (!of) continue;
    const known = parts.get(f.name);
    if (known) known.metrics.push(...f.metrics);
    else parts.set(f.name, { ...f, metrics: [...f.metrics] });
  }
  return [...typed, ...parts.values()];
}

/** The one sample of family `name` whose labels include `labels`. */
export function sample(
  families: PrometheusFamily[],
  name: string,
  labels: Record<string, string> = {},
): PrometheusSample | undefined {
  return families
    .find((f) => f.name === name)
    ?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
}
