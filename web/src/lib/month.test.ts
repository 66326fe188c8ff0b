import { describe, expect, it } from "vitest";
import { addMonths, currentMonth, daysInMonth, isMonth, monthLabel, monthRange, ordinal, today } from "./month";

describe("months", () => {
  it("moves across years", () => {
    expect(addMonths("2026-11", 1)).toBe("2026-12");
    expect(addMonths("2026-12", 1)).toBe("2027-01");
    expect(addMonths("2026-01", -1)).toBe("2025-12");
    expect(addMonths("2026-06", -17)).toBe("2025-01");
  });
  it("knows month lengths", () => {
    expect(daysInMonth("2024-02")).toBe(29);
    expect(daysInMonth("2026-02")).toBe(28);
    expect(daysInMonth("2026-11")).toBe(30);
    expect(monthRange("2026-02")).toEqual({ from: "2026-02-01", to: "2026-02-28" });
  });
  it("validates like the API", () => {
    expect(isMonth("2026-11")).toBe(true);
    expect(isMonth("2026-13")).toBe(false);
    expect(isMonth("9999-01")).toBe(false);
    expect(isMonth("1899-12")).toBe(false);
    expect(() => addMonths("2026-1", 1)).toThrow(RangeError);
  });
  it("takes today in the user's time zone", () => {
    const instant = new Date("2026-11-30T23:30:00Z");
    expect(today("UTC", instant)).toBe("2026-11-30");
    expect(today("Asia/Tokyo", instant)).toBe("2026-12-01");
    expect(currentMonth("Asia/Tokyo", instant)).toBe("2026-12");
    expect(currentMonth("America/Los_Angeles", instant)).toBe("2026-11");
  });
  it("names months and days", () => {
    expect(monthLabel("2026-11")).toBe("November 2026");
    expect([1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31].map(ordinal)).toEqual([
      "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st",
    ]);
  });
});
