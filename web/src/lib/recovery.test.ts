import { describe, expect, it } from "vitest";
import { resetToken } from "../pages/Recovery";

describe("resetToken", () => {
  it("reads the token from the link's fragment", () => {
    expect(resetToken("#token=abc-DEF_123")).toBe("abc-DEF_123");
  });
  it("is null without one", () => {
    expect(resetToken("")).toBeNull();
    expect(resetToken("#other=1")).toBeNull();
  });
});
