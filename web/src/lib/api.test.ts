import { describe, expect, it } from "vitest";
import { Api, ApiError, problemMessage, queryString } from "./api";

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

describe("queryString", () => {
  it("leaves out empty filters", () => {
    expect(queryString({ month: "2026-11", q: "", tag: undefined, limit: 20 })).toBe("?month=2026-11&limit=20");
    expect(queryString({})).toBe("");
  });
});

describe("problemMessage", () => {
  it("shows the API's detail and the fields of a validation error", () => {
    expect(problemMessage({ status: 409, detail: "budget food would be exceeded" })).toBe("budget food would be exceeded");
    expect(
      problemMessage({ status: 422, detail: "invalid input", errors: [{ loc: ["body", "amount"], msg: "at most 2 decimal places" }] }),
    ).toBe("invalid input (amount: at most 2 decimal places)");
  });
});

describe("Api", () => {
  it("keeps the access token in memory and refreshes from the cookie once on 401", async () => {
    const seen: { url: string; auth: string | null; cookieMode: string | null; body: unknown }[] = [];
    let issued = 0;
    const fetchFn = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
      const url = String(input);
      const headers = new Headers(init?.headers);
      seen.push({ url, auth: headers.get("Authorization"), cookieMode: headers.get("X-Refresh-Cookie"), body: init?.body });
      if (url === "/api/auth/login" || url === "/api/auth/refresh") {
        issued += 1;
        return json(200, { access_token: `a${issued}`, refresh_token: "", token_type: "bearer", expires_in: 900 });
      }
      if (headers.get("Authorization") === "Bearer a1") return json(401, { status: 401, detail: "token expired" });
      return json(200, { id: "u", email: "e@x.org", name: null, currency: "USD", timezone: "UTC" });
    };
    const api = new Api(fetchFn as typeof fetch);
    await api.login("e@x.org", "correct horse");
    expect(api.accessToken).toBe("a1");
    const me = await api.me();
    expect(me.email).toBe("e@x.org");
    expect(api.accessToken).toBe("a2");
    expect(seen.map((s) => s.url)).toEqual(["/api/auth/login", "/api/users/me", "/api/auth/refresh", "/api/users/me"]);
    // Login and refresh ask for the cookie; the refresh sends no token of its own.
    expect(seen[0]?.cookieMode).toBe("1");
    expect(seen[2]).toMatchObject({ cookieMode: "1", auth: null, body: undefined });
    expect(seen[3]?.auth).toBe("Bearer a2");
  });

  it("signs out when the refresh is refused", async () => {
    let signedOut = false;
    const fetchFn = async (): Promise<Response> => json(401, { status: 401, detail: "refresh token is invalid" });
    const api = new Api(fetchFn as typeof fetch);
    api.onSignedOut = () => {
      signedOut = true;
    };
    await expect(api.me()).rejects.toBeInstanceOf(ApiError);
    expect(signedOut).toBe(true);
    expect(api.hasSession).toBe(false);
  });

  it("throws the problem's detail", async () => {
    const fetchFn = async (): Promise<Response> =>
      json(409, { type: "about:blank", title: "Conflict", status: 409, detail: "over the hard limit of food" });
    const api = new Api(fetchFn as typeof fetch);
    await expect(api.deleteBudget("x")).rejects.toThrow("over the hard limit of food");
  });
});
