// Money is a decimal string with at most 2 places, as the API sends and takes it. Arithmetic
// and comparisons go through integer cents; nothing here multiplies or adds JS floats.

const AMOUNT = /^\d+(\.\d{1,2})?$/;
export const MAX_AMOUNT_CENTS = 1_000_000_000 * 100;

/** Integer cents of a decimal string ("12.5" → 1250), or null if it is not one. */
export function toCents(amount: string): number | null {
  const text = amount.trim();
  const match = /^(-?)(\d+)(?:\.(\d{1,2}))?$/.exec(text);
  if (!match) return null;
  const [, sign, whole = "0", fraction = ""] = match;
  const cents = Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
  if (!Number.isSafeInteger(cents)) return null;
  return sign === "-" ? -cents : cents;
}

/** The decimal string of integer cents (1250 → "12.50"). */
export function fromCents(cents: number): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not a whole number of cents: ${cents}`);
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  const whole = Math.floor(abs / 100);
  const fraction = String(abs % 100).padStart(2, "0");
  return `${sign}${whole}.${fraction}`;
}

/** The same check the API makes: digits, at most 2 decimals, above 0, at most 1,000,000,000. */
export function checkAmount(input: string): string | null {
  const text = input.trim();
  if (text === "") return "Enter an amount.";
  if (!AMOUNT.test(text)) return "Use digits with at most 2 decimal places, like 12.50.";
  const cents = toCents(text);
  if (cents === null || cents <= 0) return "The amount must be above 0.";
  if (cents > MAX_AMOUNT_CENTS) return "The amount can be at most 1,000,000,000.";
  return null;
}

/** "1234.5" in EUR → "€1,234.50"; formatted from the decimal string itself, never a float. */
export function formatMoney(amount: string, currency: string, locale = "en-US"): string {
  const cents = toCents(amount);
  if (cents === null) return amount;
  const exact = fromCents(cents) as Intl.StringNumericLiteral;
  try {
    return new Intl.NumberFormat(locale, { style: "currency", currency }).format(exact);
  } catch {
    return `${exact} ${currency}`;
  }
}

/** Sum of decimal strings, as a decimal string. */
export function sumAmounts(amounts: readonly string[]): string {
  let total = 0;
  for (const amount of amounts) total += toCents(amount) ?? 0;
  return fromCents(total);
}

/** Whole percent of part in total (both decimal strings), rounded down; 0 when total is 0. */
export function percentOf(part: string, total: string): number {
  const p = toCents(part) ?? 0;
  const t = toCents(total) ?? 0;
  if (t <= 0) return 0;
  return Math.floor((p * 100) / t);
}
