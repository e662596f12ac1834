import { describe, expect, it } from 'vitest';
import { CronError, nextRun, parseCron } from './cron.ts';

// 2024-01-01 was a Monday, so 2024-01-03 is a Wednesday.
const WED = '2024-01-03T10:15:30.000Z';
const next = (expr: string, from: string) => new Date(nextRun(expr, Date.parse(from))).toISOString();

describe('cron: next run (UTC)', () => {
  const vectors: [string, string, string][] = [
    // [expression, from, expected]
    ['* * * * *', WED, '2024-01-03T10:16:00.000Z'],
    ['0 * * * *', WED, '2024-01-03T11:00:00.000Z'],
    ['@hourly', WED, '2024-01-03T11:00:00.000Z'],
    ['@daily', WED, '2024-01-04T00:00:00.000Z'],
    ['@midnight', WED, '2024-01-04T00:00:00.000Z'],
    ['@weekly', WED, '2024-01-07T00:00:00.000Z'],
    ['@monthly', WED, '2024-02-01T00:00:00.000Z'],
    ['@yearly', WED, '2025-01-01T00:00:00.000Z'],
    ['@annually', WED, '2025-01-01T00:00:00.000Z'],
    ['0 0 * * 0', WED, '2024-01-07T00:00:00.000Z'], // next Sunday
    ['0 0 * * 7', WED, '2024-01-07T00:00:00.000Z'], // 7 is Sunday too
    ['0 0 * * sun', WED, '2024-01-07T00:00:00.000Z'],
    ['0 0 * * 1', '2024-01-07T00:00:00.000Z', '2024-01-08T00:00:00.000Z'],
    ['0 0 * * 5-7', WED, '2024-01-05T00:00:00.000Z'], // Fri-Sun
    ['*/15 * * * *', WED, '2024-01-03T10:30:00.000Z'],
    ['5,10 * * * *', WED, '2024-01-03T11:05:00.000Z'],
    ['0 9-17/2 * * MON-FRI', WED, '2024-01-03T11:00:00.000Z'],
    ['0 9-17/2 * * MON-FRI', '2024-01-05T17:00:00.000Z', '2024-01-08T09:00:00.000Z'], // Fri after the last slot -> Monday
    ['30 10 * * *', WED, '2024-01-03T10:30:00.000Z'],
    ['15 10 * * *', WED, '2024-01-04T10:15:00.000Z'], // 10:15:00 already passed
    ['0 0 1 1 *', WED, '2025-01-01T00:00:00.000Z'],
    ['0 0 1 jan *', WED, '2025-01-01T00:00:00.000Z'],
    ['0 12 1 MAR *', WED, '2024-03-01T12:00:00.000Z'],
    ['0 0 * JAN,MAR *', '2024-01-31T12:00:00.000Z', '2024-03-01T00:00:00.000Z'],
    ['0 0 29 2 *', WED, '2024-02-29T00:00:00.000Z'], // 2024 is a leap year
    ['0 0 29 2 *', '2024-03-01T00:00:00.000Z', '2028-02-29T00:00:00.000Z'],
    ['0 0 31 * *', WED, '2024-01-31T00:00:00.000Z'],
    ['0 0 31 * *', '2024-02-01T00:00:00.000Z', '2024-03-31T00:00:00.000Z'], // February has no 31st
    ['0 0 31 * *', '2024-04-01T00:00:00.000Z', '2024-05-31T00:00:00.000Z'],
    ['0 0 31 4,5 *', WED, '2024-05-31T00:00:00.000Z'],
    ['0 0 1/10 * *', WED, '2024-01-11T00:00:00.000Z'], // 1,11,21,31
    ['0 0 1/10 * *', '2024-01-21T00:00:00.000Z', '2024-01-31T00:00:00.000Z'],
    // day-of-month and day-of-week both restricted: either matches (Vixie)
    ['0 0 13 * FRI', WED, '2024-01-05T00:00:00.000Z'],
    ['0 0 13 * FRI', '2024-01-05T00:00:00.000Z', '2024-01-12T00:00:00.000Z'],
    ['0 0 13 * FRI', '2024-01-12T00:00:00.000Z', '2024-01-13T00:00:00.000Z'],
    ['0 0 13 * FRI', '2024-01-13T00:00:00.000Z', '2024-01-19T00:00:00.000Z'],
    ['0 0 1-7 * MON', WED, '2024-01-04T00:00:00.000Z'],
    ['0 0 29 2 MON', WED, '2024-02-05T00:00:00.000Z'], // first Monday of February 2024
    // one of them starts with * -> both must match
    ['0 0 * * FRI', WED, '2024-01-05T00:00:00.000Z'],
    ['0 0 */2 * FRI', WED, '2024-01-05T00:00:00.000Z'], // odd day and Friday
    ['0 0 */2 * FRI', '2024-01-05T00:00:00.000Z', '2024-01-19T00:00:00.000Z'], // the 12th is even
    ['0 0 13 * ?', WED, '2024-01-13T00:00:00.000Z'],
    // Harbor's 6 fields, seconds first
    ['*/10 * * * * *', WED, '2024-01-03T10:15:40.000Z'],
    ['* * * * * *', WED, '2024-01-03T10:15:31.000Z'],
    ['30 0 0 * * *', WED, '2024-01-04T00:00:30.000Z'],
    ['0 0 0 * * ?', WED, '2024-01-04T00:00:00.000Z'],
    ['0 0 0 * * 6', WED, '2024-01-06T00:00:00.000Z'], // Saturday
    ['0 0 * * * *', WED, '2024-01-03T11:00:00.000Z'],
    ['15 30 10 3 1 *', WED, '2024-01-03T10:30:15.000Z'], // later the same day
    ['15 30 10 3 1 *', '2024-01-03T10:30:15.000Z', '2025-01-03T10:30:15.000Z'],
    ['15 30 10 3 1 *', '2024-01-03T10:30:14.999Z', '2024-01-03T10:30:15.000Z'],
    // boundaries: strictly after, across the year
    ['* * * * *', '2024-01-03T10:16:00.000Z', '2024-01-03T10:17:00.000Z'],
    ['* * * * *', '2024-01-03T10:15:59.999Z', '2024-01-03T10:16:00.000Z'],
    ['* * * * *', '2024-12-31T23:59:59.000Z', '2025-01-01T00:00:00.000Z'],
    ['59 23 31 12 *', '2024-12-31T23:59:00.000Z', '2025-12-31T23:59:00.000Z'],
    ['0 0 * * *', '2023-02-28T12:00:00.000Z', '2023-03-01T00:00:00.000Z'], // not a leap year
    ['  0   0  *  *  0 ', WED, '2024-01-07T00:00:00.000Z'], // extra whitespace
  ];
  for (const [expr, from, want] of vectors) {
    it(`"${expr}" after ${from} is ${want}`, () => {
      expect(next(expr, from)).toBe(want);
    });
  }

  it('runs a chain of next times', () => {
    const c = parseCron('0 0 * * 0');
    let t = Date.parse(WED);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) got.push(new Date((t = c.next(t))).toISOString());
    expect(got).toEqual(['2024-01-07T00:00:00.000Z', '2024-01-14T00:00:00.000Z', '2024-01-21T00:00:00.000Z']);
  });

  it('finds Feb 29 on a Sunday (a 28-year cycle) when only day-of-month is restricted with a * day-of-week step', () => {
    // */7 in day-of-week = {0}: Sunday; day-of-week starts with * so both must match
    expect(next('0 0 29 2 */7', '2005-01-01T00:00:00.000Z')).toBe('2032-02-29T00:00:00.000Z');
  });

  it('exposes the parsed sets', () => {
    const c = parseCron('0 0 * * 1-5/2');
    expect([...c.daysOfWeek].sort()).toEqual([1, 3, 5]);
    expect([...c.seconds]).toEqual([0]);
    expect([...parseCron('0 0 * * 6-7').daysOfWeek].sort()).toEqual([0, 6]);
  });
});

describe('cron: errors', () => {
  const bad: [string, RegExp][] = [
    ['', /empty/],
    ['   ', /empty/],
    ['* * * *', /expected 5 fields .* got 4/],
    ['* * * * * * *', /got 7/],
    ['60 * * * *', /minute 60 out of range 0-59/],
    ['* 24 * * *', /hour 24 out of range 0-23/],
    ['* * 0 * *', /day-of-month 0 out of range 1-31/],
    ['* * 32 * *', /day-of-month 32 out of range/],
    ['* * * 13 *', /month 13 out of range 1-12/],
    ['* * * * 8', /day-of-week 8 out of range 0-7/],
    ['60 * * * * *', /second 60 out of range/],
    ['*/0 * * * *', /bad step "0"/],
    ['*/x * * * *', /bad step "x"/],
    ['1/2/3 * * * *', /bad step/],
    ['5-1 * * * *', /goes backwards/],
    ['1-2-3 * * * *', /bad range/],
    ['a * * * *', /"a" is not a valid minute/],
    ['* * * FOO *', /"FOO" is not a valid month/],
    ['* * * * MONDAY', /"MONDAY" is not a valid day-of-week/],
    ['* * * MON *', /"MON" is not a valid month/],
    ['@every 5m', /unknown macro/],
    ['@often', /unknown macro/],
    ['* * L * *', /L, W and # are not supported/],
    ['* * * * 5#2', /not supported/],
    ['1,,2 * * * *', /empty list item/],
    ['? * * * *', /only allowed in day-of-month and day-of-week/],
    ['0 0 30 2 *', /never occurs/],
    ['0 0 31 4,6 *', /never occurs/],
    ['-5 * * * *', /missing value/],
  ];
  for (const [expr, msg] of bad) {
    it(`rejects "${expr}"`, () => {
      expect(() => parseCron(expr)).toThrow(CronError);
      expect(() => parseCron(expr)).toThrow(msg);
    });
  }

  it('names the expression in the message', () => {
    expect(() => parseCron('61 * * * *')).toThrow('invalid cron expression "61 * * * *": minute 61 out of range 0-59');
  });
});
