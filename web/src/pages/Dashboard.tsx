import { useEffect, useState } from "react";
import { CategoryChart, TrendChart } from "../charts";
import { useSession } from "../context";
import type { BudgetStatus, Expense, Forecast, Insights, Summary, Trends } from "../lib/api";
import { formatMoney, percentOf } from "../lib/money";
import { currentMonth, monthLabel, ordinal, shortMonth } from "../lib/month";
import { ErrorMessage, MonthPicker, errorText } from "../ui";

interface Data {
  summary: Summary;
  budgets: BudgetStatus[];
  trends: Trends;
  forecast: Forecast;
  insights: Insights;
  recent: Expense[];
}

export function Dashboard() {
  const { api, user, liveTick } = useSession();
  const [month, setMonth] = useState(() => currentMonth(user.timezone));
  const [data, setData] = useState<Data | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [poll, setPoll] = useState(0);

  // Figures arrive through events a moment after a change: re-read them every few seconds.
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (document.visibilityState === "visible") setPoll((n) => n + 1);
    }, 4000);
    return () => window.clearInterval(timer);
  }, []);

  useEffect(() => {
    let current = true;
    Promise.all([
      api.summary(month),
      api.budgetStatus(month),
      api.trends(month),
      api.forecast(month),
      api.insights(month),
      api.expenses({ month, sort: "-date", limit: 5 }),
    ]).then(
      ([summary, budgets, trends, forecast, insights, recent]) => {
        if (!current) return;
        setData({ summary, budgets, trends, forecast, insights, recent: recent.items });
        setError(null);
      },
      (err: unknown) => current && setError(errorText(err)),
    );
    return () => {
      current = false;
    };
  }, [api, month, liveTick, poll]);

  const money = (amount: string) => formatMoney(amount, user.currency);

  const downloadStatement = async () => {
    try {
      const url = URL.createObjectURL(await api.statementPdf(month));
      const a = document.createElement("a");
      a.href = url;
      a.download = `statement-${month}.pdf`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (err) {
      setError(errorText(err));
    }
  };

  return (
    <section aria-labelledby="dashboard-title">
      <div className="page-head">
        <h1 id="dashboard-title">Dashboard</h1>
        <MonthPicker month={month} onChange={setMonth} />
        <button type="button" onClick={() => void downloadStatement()}>
          Statement (PDF)
        </button>
      </div>
      <ErrorMessage message={error} />
      {!data ? (
        <p>Loading…</p>
      ) : (
        <div className="grid" data-month={month}>
          <div className="card stats" aria-label={`Totals for ${monthLabel(month)}`}>
            <div>
              <span>Spent</span>
              <strong data-testid="spent">{money(data.summary.expense)}</strong>
            </div>
            <div>
              <span>Income</span>
              <strong data-testid="income">{money(data.summary.income)}</strong>
            </div>
            <div>
              <span>Savings</span>
              <strong data-testid="savings">{money(data.summary.savings)}</strong>
            </div>
            <div>
              <span>Expenses</span>
              <strong data-testid="count">{data.summary.count}</strong>
            </div>
          </div>

          <div className="card">
            <h2>Budgets</h2>
            {data.budgets.length === 0 ? (
              <p>No budget for this month.</p>
            ) : (
              <ul className="budgets">
                {data.budgets.map((b) => (
                  <BudgetBar key={b.budget_id} status={b} money={money} />
                ))}
              </ul>
            )}
          </div>

          <div className="card">
            <h2>By category</h2>
            {data.summary.categories.length === 0 ? (
              <p>No spending this month.</p>
            ) : (
              <>
                <CategoryChart categories={data.summary.categories} label={`Spending by category, ${monthLabel(month)}`} />
                <ul className="plain">
                  {data.summary.categories.map((c) => (
                    <li key={c.category}>
                      {c.category}: {money(c.total)}
                    </li>
                  ))}
                </ul>
              </>
            )}
          </div>

          <div className="card">
            <h2>Six months</h2>
            <TrendChart
              months={data.trends.months.map((m) => ({ label: shortMonth(m.month), expense: m.expense, income: m.income }))}
              label="Expense and income over the last six months"
            />
          </div>

          <div className="card">
            <h2>Forecast</h2>
            <p>
              Month-end spending at this pace: <strong>{money(data.forecast.overall.projected)}</strong>
            </p>
            <ul className="plain" data-testid="forecast">
              {data.forecast.budgets.map((b) => (
                <li key={b.budget_id}>
                  {b.reaches_limit_on
                    ? `${b.category ?? "All spending"} reaches 100% on the ${ordinal(Number(b.reaches_limit_on.slice(8, 10)))}.`
                    : b.text}
                </li>
              ))}
            </ul>
          </div>

          <div className="card">
            <h2>Insights</h2>
            {data.insights.insights.length === 0 ? (
              <p>Nothing stands out yet.</p>
            ) : (
              <ul className="plain">
                {data.insights.insights.map((i, n) => (
                  <li key={n}>{i.text ?? JSON.stringify(i)}</li>
                ))}
              </ul>
            )}
          </div>

          <div className="card wide">
            <h2>Recent</h2>
            {data.recent.length === 0 ? (
              <p>Nothing recorded in {monthLabel(month)}.</p>
            ) : (
              <ul className="plain recent">
                {data.recent.map((e) => (
                  <li key={e.id}>
                    <span>{e.date}</span> <span>{e.description || e.category}</span>{" "}
                    <strong className={e.kind}>{e.kind === "income" ? "+" : "−"}{money(e.base_amount)}</strong>
                  </li>
                ))}
              </ul>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

function BudgetBar({ status, money }: { status: BudgetStatus; money: (a: string) => string }) {
  const name = status.category ?? "All spending";
  const percent = percentOf(status.spent, status.amount);
  return (
    <li className={`budget ${status.state}`}>
      <div className="budget-line">
        <span>{name}</span>
        <span>
          {money(status.spent)} / {money(status.amount)} · {percent}% · <em>{status.state}</em>
        </span>
      </div>
      <div
        className="bar"
        role="progressbar"
        aria-label={`${name} budget`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.min(percent, 100)}
        aria-valuetext={`${percent}% used, ${status.state}`}
      >
        <div style={{ width: `${Math.min(percent, 100)}%` }} />
      </div>
      <small>Projected by month-end: {money(status.projected_spend)}</small>
    </li>
  );
}
