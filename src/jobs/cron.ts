// Cron expressions and their next run, in UTC.
//
//   5 fields: minute hour day-of-month month day-of-week        (crontab(5))
//   6 fields: second minute hour day-of-month month day-of-week (Harbor's form, seconds first)
//   @yearly (@annually) @monthly @weekly @daily (@midnight) @hourly
//
// Each field: `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (= a-max/n), or a comma
// list of those. Months accept JAN–DEC, days of week SUN–SAT (0 and 7 are both Sunday). `?` means
// `*` in the day fields (Quartz/Harbor habit). When both day-of-month and day-of-week are
// restricted (neither starts with `*` or `?`), a day matches if EITHER matches, as in Vixie cron;
// otherwise both must (so `*/2` in one of them counts as unrestricted, as in Vixie cron).

export class CronError extends Error {
  constructor(expr: string, reason: string) {
    super(`invalid cron expression "${expr}": ${reason}`);
  }
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  names?: Record<string, number>;
}

const MONTHS = { JAN: 1, FEB: 2, MAR: 3, APR: 4, MAY: 5, JUN: 6, JUL: 7, AUG: 8, SEP: 9, OCT: 10, NOV: 11, DEC: 12 };
const DAYS = { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 };

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59 };
const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23 };
const DOM: FieldSpec = { name: 'day-of-month', min: 1, max: 31 };
const MONTH: FieldSpec = { name: 'month', min: 1, max: 12, names: MONTHS };
const DOW: FieldSpec = { name: 'day-of-week', min: 0, max: 7, names: DAYS };

const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const DAYS_IN_MONTH = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]; // February: leap years

export class Cron {
  readonly seconds: ReadonlySet<number>;
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday */
  readonly daysOfWeek: ReadonlySet<number>;
  private readonly domStar: boolean;
  private readonly dowStar: boolean;

  private constructor(readonly expression: string) {
    const expr = expression.trim();
    const macro = expr.startsWith('@') ? MACROS[expr.toLowerCase()] : undefined;
    if (expr.startsWith('@') && !macro) throw new CronError(expression, `unknown macro ${expr} (use one of ${Object.keys(MACROS).join(', ')})`);
    const fields = (macro ?? expr).split(/\s+/).filter(Boolean);
    if (fields.length !== 5 && fields.length !== 6) {
      throw new CronError(expression, `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got ${fields.length}`);
    }
    const f = fields.length === 6 ? fields : ['0', ...fields];
    this.seconds = parseField(expression, f[0], SECOND);
    this.minutes = parseField(expression, f[1], MINUTE);
    this.hours = parseField(expression, f[2], HOUR);
    this.daysOfMonth = parseField(expression, f[3], DOM);
    this.months = parseField(expression, f[4], MONTH);
    const dow = new Set(parseField(expression, f[5], DOW));
    if (dow.delete(7)) dow.add(0);
    this.daysOfWeek = dow;
    this.domStar = f[3].startsWith('*') || f[3] === '?';
    this.dowStar = f[5].startsWith('*') || f[5] === '?';
    // A day-of-month that no selected month has (e.g. "0 0 30 2 *") would never fire.
    if (this.dowStar && ![...this.months].some((m) => [...this.daysOfMonth].some((d) => d <= DAYS_IN_MONTH[m - 1]))) {
      throw new CronError(expression, 'the day-of-month never occurs in the selected months');
    }
  }

  static parse(expression: string): Cron {
    if (typeof expression !== 'string' || !expression.trim()) throw new CronError(String(expression ?? ''), 'empty expression');
    return new Cron(expression);
  }

  /** Does the day (UTC) match the day-of-month/day-of-week fields? */
  private dayMatches(d: Date): boolean {
    const dom = this.daysOfMonth.has(d.getUTCDate());
    const dow = this.daysOfWeek.has(d.getUTCDay());
    if (this.domStar || this.dowStar) return dom && dow;
    return dom || dow;
  }

  /** The first time (ms since the epoch, whole second) strictly after `after` that matches. */
  next(after: number): number {
    let t = new Date(Math.floor(after / 1000) * 1000 + 1000);
    const limit = t.getUTCFullYear() + 30; // Feb 29 on a given weekday comes back every 28 years
    for (;;) {
      const y = t.getUTCFullYear();
      if (y > limit) throw new CronError(this.expression, 'no matching time in the next 30 years');
      const mo = t.getUTCMonth();
      if (!this.months.has(mo + 1)) {
        t = new Date(Date.UTC(y, mo + 1, 1));
        continue;
      }
      const d = t.getUTCDate();
      if (!this.dayMatches(t)) {
        t = new Date(Date.UTC(y, mo, d + 1));
        continue;
      }
      const h = t.getUTCHours();
      if (!this.hours.has(h)) {
        t = new Date(Date.UTC(y, mo, d, h + 1));
        continue;
      }
      const mi = t.getUTCMinutes();
      if (!this.minutes.has(mi)) {
        t = new Date(Date.UTC(y, mo, d, h, mi + 1));
        continue;
      }
      const s = t.getUTCSeconds();
      if (!this.seconds.has(s)) {
        t = new Date(Date.UTC(y, mo, d, h, mi, s + 1));
        continue;
      }
      return t.getTime();
    }
  }
}

/** Parse a cron expression (throws CronError with the reason). */
export function parseCron(expression: string): Cron {
  return Cron.parse(expression);
}

/** The next run strictly after `after` (ms since the epoch, UTC). */
export function nextRun(expression: string, after: number = Date.now()): number {
  return Cron.parse(expression).next(after);
}

function parseField(expr: string, text: string, spec: FieldSpec): Set<number> {
  const out = new Set<number>();
  if (text === '?') {
    if (spec !== DOM && spec !== DOW) throw new CronError(expr, `"?" is only allowed in day-of-month and day-of-week`);
    text = '*';
  }
  for (const part of text.split(',')) {
    if (!part) throw new CronError(expr, `empty list item in ${spec.name} field "${text}"`);
    const [range, stepText, ...extra] = part.split('/');
    if (extra.length) throw new CronError(expr, `bad step in ${spec.name} field "${part}"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1) throw new CronError(expr, `bad step "${stepText}" in ${spec.name} field (a positive integer)`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === '*') {
      lo = spec.min;
      hi = spec === DOW ? 6 : spec.max;
    } else {
      const bounds = range.split('-');
      if (bounds.length > 2) throw new CronError(expr, `bad range "${range}" in ${spec.name} field`);
      lo = value(expr, bounds[0], spec);
      hi = bounds.length === 2 ? value(expr, bounds[1], spec) : stepText !== undefined ? (spec === DOW ? 6 : spec.max) : lo;
      if (lo > hi) throw new CronError(expr, `range ${range} in ${spec.name} field goes backwards`);
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

function value(expr: string, text: string, spec: FieldSpec): number {
  if (!text) throw new CronError(expr, `missing value in ${spec.name} field`);
  let v: number;
  if (/^\d+$/.test(text)) v = Number(text);
  else if (spec.names && Object.hasOwn(spec.names, text.toUpperCase())) v = spec.names[text.toUpperCase() as keyof typeof spec.names];
  else if (/[LW#]/i.test(text) && (spec === DOM || spec === DOW)) throw new CronError(expr, `"${text}": L, W and # are not supported`);
  else throw new CronError(expr, `"${text}" is not a valid ${spec.name}${spec.names ? ` (a number or a name like ${Object.keys(spec.names)[0]})` : ''}`);
  if (v < spec.min || v > spec.max) throw new CronError(expr, `${spec.name} ${v} out of range ${spec.min}-${spec.max}`);
  return v;
}
