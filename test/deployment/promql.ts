/**
 * Metric names referenced by a PromQL expression (Prometheus 2.x/3.x syntax, plus the
 * Grafana variables dashboards use). Label names, label values, function and aggregation
 * names, keywords, numbers and durations are not metric names; an identifier called like
 * a function must be a known PromQL function, so a typo there fails too.
 */

export const PROMQL_FUNCTIONS: ReadonlySet<string> = new Set([
  // aggregation operators
  'sum',
  'min',
  'max',
  'avg',
  'group',
  'stddev',
  'stdvar',
  'count',
  'count_values',
  'bottomk',
  'topk',
  'quantile',
  'limitk',
  'limit_ratio',
  // functions
  'abs',
  'absent',
  'absent_over_time',
  'ceil',
  'changes',
  'clamp',
  'clamp_max',
  'clamp_min',
  'day_of_month',
  'day_of_week',
  'day_of_year',
  'days_in_month',
  'delta',
  'deriv',
  'exp',
  'floor',
  'histogram_avg',
  'histogram_count',
  'histogram_fraction',
  'histogram_quantile',
  'histogram_stddev',
  'histogram_stdvar',
  'histogram_sum',
  'holt_winters',
  'double_exponential_smoothing',
  'hour',
  'idelta',
  'increase',
  'irate',
  'label_join',
  'label_replace',
  'ln',
  'log2',
  'log10',
  'minute',
  'month',
  'predict_linear',
  'rate',
  'resets',
  'round',
  'scalar',
  'sgn',
  'sort',
  'sort_desc',
  'sort_by_label',
  'sort_by_label_desc',
  'sqrt',
  'time',
  'timestamp',
  'vector',
  'year',
  'avg_over_time',
  'min_over_time',
  'max_over_time',
  'sum_over_time',
  'count_over_time',
  'quantile_over_time',
  'stddev_over_time',
  'stdvar_over_time',
  'last_over_time',
  'present_over_time',
  'mad_over_time',
  'acos',
  'acosh',
  'asin',
  'asinh',
  'atan',
  'atanh',
  'cos',
  'cosh',
  'sin',
  'sinh',
  'tan',
  'tanh',
  'deg',
  'rad',
  'pi',
  'info',
]);

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'and',
  'or',
  'unless',
  'atan2',
  'inf',
  'nan',
  'start',
  'end',
]);

/** Drops everything that is not an expression token: variables, comments, strings, matchers, ranges, groupings. */
export function stripNonMetricParts(expr: string): string {
  return (
    expr
      // Grafana variables: ${var}, ${var:fmt}, $__rate_interval, $var, [[var]]
      .replace(/\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]/g, ' ')
      .replace(/#[^\n]*/g, ' ')
      .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
      .replace(/\{[^{}]*\}/g, ' ')
      .replace(/\[[^\][]*\]/g, ' ')
      .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/g, ' ')
  );
}

/** Metric names in a PromQL expression, in order of first appearance. */
export function metricNames(expr: string): string[] {
  const s = stripNonMetricParts(expr);
  const names: string[] = [];
  const re =
    /(\d*\.?\d+(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*)|([a-zA-Z_:][a-zA-Z0-9_:]*)|(\S)/g;
  for (let m = re.exec(s); m !== null; m = re.exec(s)) {
    const ident = m[2];
    if (ident === undefined) continue; // number, duration or operator
    if (KEYWORDS.has(ident.toLowerCase())) continue; // `and (`, `or (` are operators, not calls
    const after = s.slice(re.lastIndex).trimStart();
    if (after.startsWith('(')) {
      if (!PROMQL_FUNCTIONS.has(ident)) throw new Error(`unknown PromQL function ${ident}() in: ${expr}`);
      continue;
    }
    if (PROMQL_FUNCTIONS.has(ident)) continue;
    if (!names.includes(ident)) names.push(ident);
  }
  return names;
}
