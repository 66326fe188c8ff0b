import { describe, expect, it } from "vitest";
import { checkAmount, formatMoney, fromCents, percentOf, sumAmounts, toCents } from "./money";

describe("cents", () => {
  it("reads decimal strings as whole cents", () => {
    expect(toCents("12.5")).toBe(1250);
    expect(toCents("0.01")).toBe(1);
    expect(toCents("1000000000.00")).toBe(100000000000);
    expect(toCents("-3.07")).toBe(-307);
    expect(toCents("1.234")).toBeNull();
    expect(toCents("1e3")).toBeNull();
    expect(toCents("")).toBeNull();
  });
  it("writes cents back as two decimals", () => {
    expect(fromCents(1250)).toBe("12.50");
    expect(fromCents(7)).toBe("0.07");
    expect(fromCents(-307)).toBe("-3.07");
    expect(() => fromCents(0.5)).toThrow(RangeError);
  });
  it("adds without float error", () => {
    // 0.1 + 0.2 in floats is 0.30000000000000004
    expect(sumAmounts(["0.10", "0.20"])).toBe("0.30");
    expect(sumAmounts(Array.from({ length: 10 }, () => "0.10"))).toBe("1.00");
  });
  it("gives whole percents", () => {
    expect(percentOf("85.00", "100.00")).toBe(85);
    expect(percentOf("79.99", "100.00")).toBe(79);
    expect(percentOf("1", "0")).toBe(0);
  });
});

describe("checkAmount matches the API's rules", () => {
  it.each([
    ["", "Enter an amount."],
    ["12.345", "Use digits with at most 2 decimal places, like 12.50."],
    ["1,5", "Use digits with at most 2 decimal places, like 12.50."],
    ["1e3", "Use digits with at most 2 decimal places, like 12.50."],
    ["-4", "Use digits with at most 2 decimal places, like 12.50."],
    ["0", "The amount must be above 0."],
    ["0.00", "The amount must be above 0."],
    ["1000000000.01", "The amount can be at most 1,000,000,000."],
  ])("refuses %j", (input, message) => {
    expect(checkAmount(input)).toBe(message);
  });
  it.each(["12", "12.5", "12.50", " 7.25 ", "1000000000"])("takes %j", (input) => {
    expect(checkAmount(input)).toBeNull();
  });
});

describe("formatMoney", () => {
  it("formats the exact decimal in the currency", () => {
    expect(formatMoney("1234.5", "USD")).toBe("$1,234.50");
    expect(formatMoney("0.07", "EUR", "en-US")).toBe("€0.07");
    expect(formatMoney("9007199254740.99", "USD")).toBe("$9,007,199,254,740.99");
  });
  it("falls back on an unknown currency code", () => {
    expect(formatMoney("5", "ZZZ")).toMatch(/5\.00/);
  });
});
