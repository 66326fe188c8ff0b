// Months are "YYYY-MM" strings and dates "YYYY-MM-DD", as the API spells them.

const MONTH = /^(\d{4})-(0[1-9]|1[0-2])$/;

export function isMonth(text: string): boolean {
  const match = MONTH.exec(text);
  if (!match) return false;
  const year = Number(match[1]);
  return year >= 1900 && year <= 9998;
}

function parts(month: string): [number, number] {
  const match = MONTH.exec(month);
  if (!match) throw new RangeError(`not a month: ${month}`);
  return [Number(match[1]), Number(match[2])];
}

function spell(year: number, month: number): string {
  return `${String(year).padStart(4, "0")}-${String(month).padStart(2, "0")}`;
}

/** The month `count` months after (or before, if negative) `month`. */
export function addMonths(month: string, count: number): string {
  const [year, m] = parts(month);
  const index = year * 12 + (m - 1) + count;
  return spell(Math.floor(index / 12), (index % 12) + 1);
}

/** Today's date in a time zone, as "YYYY-MM-DD". */
export function today(timeZone = "UTC", now: Date = new Date()): string {
  const format = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  });
  return format.format(now);
}

export function currentMonth(timeZone = "UTC", now: Date = new Date()): string {
  return today(timeZone, now).slice(0, 7);
}

export function daysInMonth(month: string): number {
  const [year, m] = parts(month);
  return new Date(Date.UTC(year, m, 0)).getUTCDate();
}

/** "2026-11" → "November 2026". */
export function monthLabel(month: string, locale = "en-US"): string {
  const [year, m] = parts(month);
  return new Intl.DateTimeFormat(locale, { month: "long", year: "numeric", timeZone: "UTC" }).format(
    new Date(Date.UTC(year, m - 1, 1)),
  );
}

/** "2026-11" → "Nov" (for chart labels). */
export function shortMonth(month: string, locale = "en-US"): string {
  const [year, m] = parts(month);
  return new Intl.DateTimeFormat(locale, { month: "short", timeZone: "UTC" }).format(
    new Date(Date.UTC(year, m - 1, 1)),
  );
}

/** 1 → "1st", 22 → "22nd", 13 → "13th". */
export function ordinal(day: number): string {
  const tens = day % 100;
  if (tens >= 11 && tens <= 13) return `${day}th`;
  const suffix = { 1: "st", 2: "nd", 3: "rd" }[day % 10] ?? "th";
  return `${day}${suffix}`;
}

/** The first day of a month and its last, for a date-range filter. */
export function monthRange(month: string): { from: string; to: string } {
  return { from: `${month}-01`, to: `${month}-${String(daysInMonth(month)).padStart(2, "0")}` };
}
