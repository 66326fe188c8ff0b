// A small typed client of the public API through the gateway. The paths it uses are checked
// against the gateway's /openapi.json by tests/browser/test_api_client.py.

export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  errors?: { loc?: (string | number)[]; msg?: string; detail?: string }[];
}

export class ApiError extends Error {
  readonly status: number;
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problemMessage(problem));
    this.status = problem.status;
    this.problem = problem;
  }
}

/** What to show a person: the API's own `detail`, with the fields of a validation error. */
export function problemMessage(problem: Problem): string {
  const base = problem.detail ?? problem.title ?? `request failed (${problem.status})`;
  const fields = (problem.errors ?? [])
    .map((e) => {
      const where = (e.loc ?? []).filter((p) => p !== "body" && p !== "query").join(".");
      const what = e.msg ?? e.detail ?? "";
      return where ? `${where}: ${what}` : what;
    })
    .filter((s) => s !== "" && s !== base);
  return fields.length > 0 ? `${base} (${fields.join("; ")})` : base;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: "bearer";
  expires_in: number;
}

export interface User {
  id: string;
  email: string;
  name: string | null;
  currency: string;
  timezone: string;
}

export type Kind = "expense" | "income";

export interface Expense {
  id: string;
  kind: Kind;
  amount: string;
  currency: string;
  base_amount: string;
  category: string;
  description: string;
  date: string;
  tags: string[];
  recurring_id?: string | null;
  category_suggested?: boolean;
  version: number;
}

export interface ExpenseInput {
  kind: Kind;
  amount: string;
  category: string;
  date: string;
  description: string;
  tags: string[];
}

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface Category {
  id: string | null;
  name: string;
  builtin: boolean;
}

export interface Budget {
  id: string;
  month: string;
  category: string | null;
  amount: string;
  thresholds: string[];
  repeat: boolean;
  hard_limit: boolean;
  version: number;
}

export interface BudgetInput {
  month: string;
  category: string | null;
  amount: string;
  thresholds: string[];
  repeat: boolean;
  hard_limit: boolean;
}

export interface BudgetStatus {
  budget_id: string;
  month: string;
  repeated_from: string | null;
  category: string | null;
  amount: string;
  spent: string;
  remaining: string;
  percent_used: string;
  state: "ok" | "warning" | "exceeded";
  projected_spend: string;
  days_left: number;
  hard_limit: boolean;
  currency: string;
}

export interface Summary {
  currency: string;
  income: string;
  expense: string;
  savings: string;
  savings_rate: string;
  count: number;
  categories: { category: string; total: string; share: string }[];
}

export interface Trends {
  currency: string;
  months: { month: string; income: string; expense: string; savings: string }[];
}

export interface Forecast {
  month: string;
  currency: string;
  overall: { spent: string; projected: string };
  budgets: {
    budget_id: string;
    category: string | null;
    amount: string;
    reaches_limit_on: string | null;
    text: string;
  }[];
}

export interface Insights {
  insights: { text?: string; kind?: string; [key: string]: unknown }[];
}

export interface Notification {
  id: string;
  type: string;
  title: string;
  body: string;
  created_at: string;
  read_at: string | null;
}

export type Weekday = "monday" | "tuesday" | "wednesday" | "thursday" | "friday" | "saturday" | "sunday";

export interface Preferences {
  in_app: boolean;
  email: boolean;
  weekly_digest: boolean;
  digest_weekday: Weekday;
  digest_hour: number;
}

export interface Suggestion {
  category: string;
  confidence: string;
  alternatives: { category: string; confidence: string }[];
}

export type Frequency = "daily" | "weekly" | "monthly" | "yearly";

export interface RecurringInput {
  kind: Kind;
  amount: string;
  category: string;
  description: string;
  frequency: Frequency;
  interval: number;
  start_date: string;
  end_date?: string | null;
  count?: number | null;
}

export interface Recurring extends RecurringInput {
  id: string;
  currency: string;
  paused: boolean;
  next_date: string | null;
  upcoming: string[];
  created: number;
  version: number;
}

export interface RecurringChange {
  paused?: boolean;
  skip_next?: true;
  amount?: string;
  description?: string;
}

export interface ImportReport {
  imported: number;
  skipped: number;
  errors: { line: number; detail: string }[];
  created_categories: string[];
}

export interface ExpenseFilters {
  month?: string;
  from?: string;
  to?: string;
  category?: string;
  tag?: string;
  q?: string;
  kind?: string;
  min_amount?: string;
  max_amount?: string;
  sort?: string;
  limit?: number;
  offset?: number;
}

type Query = Record<string, string | number | boolean | undefined | null>;

export function queryString(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** Asks the auth routes to keep the refresh token in an HttpOnly cookie (see the README). */
export const COOKIE_MODE = { "X-Refresh-Cookie": "1" } as const;

interface Options {
  query?: Query;
  body?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
  auth?: boolean;
  signal?: AbortSignal;
}

/** The session: the access token in memory only; the refresh token in an HttpOnly cookie that
 * this code never sees, rotated by every refresh. */
export class Api {
  private access: string | null = null;
  private refreshing: Promise<boolean> | null = null;
  onSignedOut: () => void = () => {};
  private readonly fetchFn: typeof fetch;

  constructor(fetchFn: typeof fetch = (...args) => fetch(...args)) {
    this.fetchFn = fetchFn;
  }

  get accessToken(): string | null {
    return this.access;
  }

  get hasSession(): boolean {
    return this.access !== null;
  }

  private keep(pair: TokenPair): void {
    this.access = pair.access_token;
  }

  forget(): void {
    this.access = null;
  }

  /** A new access token from the refresh cookie; false (signed out) when the session ended. */
  refresh(): Promise<boolean> {
    if (this.refreshing) return this.refreshing;
    this.refreshing = (async () => {
      const response = await this.fetchFn("/api/auth/refresh", {
        method: "POST",
        headers: { ...COOKIE_MODE },
        credentials: "same-origin",
      });
      if (!response.ok) {
        this.forget();
        return false;
      }
      this.keep((await response.json()) as TokenPair);
      return true;
    })().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  async raw(method: string, path: string, options: Options = {}): Promise<Response> {
    const send = async (): Promise<Response> => {
      const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
      let body: BodyInit | undefined;
      if (options.form) body = options.form;
      else if (options.body !== undefined) {
        headers["Content-Type"] = "application/json";
        body = JSON.stringify(options.body);
      }
      if (options.auth !== false && this.access) headers.Authorization = `Bearer ${this.access}`;
      return this.fetchFn(path + queryString(options.query), {
        method,
        headers,
        body,
        signal: options.signal,
      });
    };
    let response = await send();
    const retryable = method === "GET" || options.headers?.["Idempotency-Key"] !== undefined;
    for (let attempt = 0; response.status === 503 && retryable && attempt < 5; attempt += 1) {
      // A new account's profile takes a moment to reach every service; the API says when.
      const seconds = Math.min(Number(response.headers.get("Retry-After") ?? "1") || 1, 3);
      await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      response = await send();
    }
    if (response.status === 401 && options.auth !== false) {
      if (await this.refresh()) response = await send();
      else {
        this.forget();
        this.onSignedOut();
      }
    }
    return response;
  }

  async call<T>(method: string, path: string, options: Options = {}): Promise<T> {
    const response = await this.raw(method, path, options);
    if (!response.ok) {
      let problem: Problem = { status: response.status };
      try {
        problem = { ...((await response.json()) as Problem), status: response.status };
      } catch {
        // not JSON: keep the status
      }
      throw new ApiError(problem);
    }
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  // auth and account
  async register(email: string, password: string, name: string): Promise<User> {
    return this.call("POST", "/api/auth/register", {
      body: { email, password, ...(name ? { name } : {}) },
      auth: false,
    });
  }
  async login(email: string, password: string): Promise<void> {
    this.keep(
      await this.call<TokenPair>("POST", "/api/auth/login", {
        body: { email, password },
        headers: { ...COOKIE_MODE },
        auth: false,
      }),
    );
  }
  async forgotPassword(email: string): Promise<void> {
    await this.call("POST", "/api/auth/forgot-password", { body: { email }, auth: false });
  }
  async resetPassword(token: string, new_password: string): Promise<void> {
    await this.call("POST", "/api/auth/reset-password", { body: { token, new_password }, auth: false });
  }
  async logout(): Promise<void> {
    try {
      if (this.access) await this.call("POST", "/api/auth/logout", { body: {}, headers: { ...COOKIE_MODE } });
    } finally {
      this.forget();
    }
  }
  me(): Promise<User> {
    return this.call("GET", "/api/users/me");
  }
  updateMe(changes: Partial<Pick<User, "name" | "currency" | "timezone">>): Promise<User> {
    return this.call("PATCH", "/api/users/me", { body: changes });
  }
  async changePassword(current_password: string, new_password: string): Promise<void> {
    this.keep(
      await this.call<TokenPair>("POST", "/api/users/me/password", {
        body: { current_password, new_password },
        headers: { ...COOKIE_MODE },
      }),
    );
  }
  async deleteAccount(): Promise<void> {
    await this.call("DELETE", "/api/users/me");
    this.forget();
  }

  // expenses
  expenses(filters: ExpenseFilters): Promise<Page<Expense>> {
    return this.call("GET", "/api/expenses", { query: { ...filters } });
  }
  createExpense(input: ExpenseInput): Promise<Expense> {
    return this.call("POST", "/api/expenses", {
      body: input,
      headers: { "Idempotency-Key": crypto.randomUUID() },
    });
  }
  updateExpense(id: string, input: ExpenseInput, version: number): Promise<Expense> {
    return this.call("PUT", `/api/expenses/${encodeURIComponent(id)}`, {
      body: input,
      headers: { "If-Match": `"${version}"` },
    });
  }
  deleteExpense(id: string): Promise<void> {
    return this.call("DELETE", `/api/expenses/${encodeURIComponent(id)}`);
  }
  categories(): Promise<Category[]> {
    return this.call("GET", "/api/categories");
  }
  suggestCategory(description: string): Promise<Suggestion> {
    return this.call("POST", "/api/expenses/suggest-category", { body: { description } });
  }

  // recurring rules
  recurring(): Promise<Page<Recurring>> {
    return this.call("GET", "/api/recurring", { query: { limit: "200" } });
  }
  createRecurring(input: RecurringInput): Promise<Recurring> {
    return this.call("POST", "/api/recurring", { body: input });
  }
  changeRecurring(id: string, change: RecurringChange, version: number): Promise<Recurring> {
    return this.call("PATCH", `/api/recurring/${encodeURIComponent(id)}`, {
      body: change,
      headers: { "If-Match": `"${version}"` },
    });
  }
  deleteRecurring(id: string): Promise<void> {
    return this.call("DELETE", `/api/recurring/${encodeURIComponent(id)}`);
  }
  async statementPdf(month: string): Promise<Blob> {
    const response = await this.raw("GET", "/api/analytics/report.pdf", { query: { month } });
    if (!response.ok) throw new ApiError({ status: response.status, detail: "the statement could not be made" });
    return response.blob();
  }
  async exportCsv(filters: ExpenseFilters): Promise<Blob> {
    const response = await this.raw("GET", "/api/expenses/export.csv", { query: { ...filters } });
    if (!response.ok) throw new ApiError({ status: response.status, detail: "export failed" });
    return response.blob();
  }
  importCsv(file: File): Promise<ImportReport> {
    const form = new FormData();
    form.append("file", file);
    return this.call("POST", "/api/expenses/import", { form });
  }

  // budgets
  budgets(month: string): Promise<Budget[]> {
    return this.call("GET", "/api/budgets", { query: { month } });
  }
  budgetStatus(month: string): Promise<BudgetStatus[]> {
    return this.call("GET", "/api/budgets/status", { query: { month } });
  }
  saveBudget(input: BudgetInput): Promise<Budget> {
    return this.call("POST", "/api/budgets", { body: input });
  }
  deleteBudget(id: string): Promise<void> {
    return this.call("DELETE", `/api/budgets/${encodeURIComponent(id)}`);
  }

  // analytics
  summary(month: string): Promise<Summary> {
    return this.call("GET", "/api/analytics/summary", { query: { month } });
  }
  trends(month: string): Promise<Trends> {
    return this.call("GET", "/api/analytics/trends", { query: { months: 6, month } });
  }
  forecast(month: string): Promise<Forecast> {
    return this.call("GET", "/api/analytics/forecast", { query: { month } });
  }
  insights(month: string): Promise<Insights> {
    return this.call("GET", "/api/analytics/insights", { query: { month } });
  }

  // notifications
  notifications(): Promise<Page<Notification>> {
    return this.call("GET", "/api/notifications", { query: { limit: 50 } });
  }
  async unreadCount(): Promise<number> {
    return (await this.call<{ count: number }>("GET", "/api/notifications/unread-count")).count;
  }
  markRead(id: string): Promise<void> {
    return this.call("POST", `/api/notifications/${encodeURIComponent(id)}/read`);
  }
  readAll(): Promise<void> {
    return this.call("POST", "/api/notifications/read-all");
  }
  preferences(): Promise<Preferences> {
    return this.call("GET", "/api/notifications/preferences");
  }
  savePreferences(preferences: Preferences): Promise<Preferences> {
    return this.call("PUT", "/api/notifications/preferences", { body: preferences });
  }
  stream(lastEventId: string | null, signal: AbortSignal): Promise<Response> {
    return this.raw("GET", "/api/notifications/stream", {
      headers: { Accept: "text/event-stream", ...(lastEventId ? { "Last-Event-ID": lastEventId } : {}) },
      signal,
    });
  }
}
