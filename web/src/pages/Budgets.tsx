import { useEffect, useState, type FormEvent } from "react";
import { useSession } from "../context";
import type { Budget, BudgetStatus, Category } from "../lib/api";
import { checkAmount, formatMoney } from "../lib/money";
import { currentMonth } from "../lib/month";
import { ErrorMessage, Field, MonthPicker, errorText } from "../ui";

/** "80, 100" → ["0.8", "1"]: percents typed by a person, as the API's fractions (exactly). */
export function thresholdsFromPercents(text: string): string[] | string {
  const parts = text.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (parts.length === 0 || parts.length > 5) return "Give 1 to 5 thresholds, like 80, 100.";
  const out: string[] = [];
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) <= 0 || Number(part) > 200) {
      return `"${part}" is not a whole percent between 1 and 200.`;
    }
    const n = Number(part);
    out.push(n % 100 === 0 ? String(n / 100) : `${Math.floor(n / 100)}.${String(n % 100).padStart(2, "0").replace(/0$/, "")}`);
  }
  return out;
}

export function percentsFromThresholds(thresholds: string[]): string {
  return thresholds
    .map((t) => {
      const [whole = "0", fraction = ""] = t.split(".");
      return String(Number(whole) * 100 + Number(fraction.padEnd(2, "0").slice(0, 2)));
    })
    .join(", ");
}

export function Budgets() {
  const { api, user, toast, liveTick } = useSession();
  const [month, setMonth] = useState(() => currentMonth(user.timezone));
  const [budgets, setBudgets] = useState<Budget[]>([]);
  const [statuses, setStatuses] = useState<BudgetStatus[]>([]);
  const [categories, setCategories] = useState<Category[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);
  const [category, setCategory] = useState("");
  const [amount, setAmount] = useState("");
  const [thresholds, setThresholds] = useState("80, 100");
  const [repeat, setRepeat] = useState(false);
  const [hardLimit, setHardLimit] = useState(false);
  const [amountError, setAmountError] = useState<string | null>(null);

  useEffect(() => {
    api.categories().then(setCategories, (e: unknown) => setError(errorText(e)));
  }, [api]);

  useEffect(() => {
    let current = true;
    Promise.all([api.budgets(month), api.budgetStatus(month)]).then(
      ([b, s]) => {
        if (!current) return;
        setBudgets(b);
        setStatuses(s);
      },
      (e: unknown) => current && setError(errorText(e)),
    );
    return () => {
      current = false;
    };
  }, [api, month, reload, liveTick]);

  const edit = (b: Budget) => {
    setCategory(b.category ?? "");
    setAmount(b.amount);
    setThresholds(percentsFromThresholds(b.thresholds));
    setRepeat(b.repeat);
    setHardLimit(b.hard_limit);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const problem = checkAmount(amount);
    setAmountError(problem);
    if (problem) return;
    const parsed = thresholdsFromPercents(thresholds);
    if (typeof parsed === "string") {
      setError(parsed);
      return;
    }
    try {
      await api.saveBudget({ month, category: category || null, amount: amount.trim(), thresholds: parsed, repeat, hard_limit: hardLimit });
      toast(`Budget saved for ${category || "all spending"}.`);
      setAmount("");
      setReload((n) => n + 1);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const remove = async (b: Budget) => {
    if (!window.confirm(`Delete the ${b.category ?? "overall"} budget of ${b.month}?`)) return;
    try {
      await api.deleteBudget(b.id);
      setReload((n) => n + 1);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const statusOf = (id: string) => statuses.find((s) => s.budget_id === id);

  return (
    <section aria-labelledby="budgets-title">
      <div className="page-head">
        <h1 id="budgets-title">Budgets</h1>
        <MonthPicker month={month} onChange={setMonth} />
      </div>
      <form className="card budget-form" onSubmit={submit} noValidate aria-label="Budget">
        <h2>Set a budget for this month</h2>
        <Field label="Category">
          {(id) => (
            <select id={id} value={category} onChange={(e) => setCategory(e.target.value)}>
              <option value="">All spending (overall)</option>
              {categories.map((c) => (
                <option key={c.name}>{c.name}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Limit" error={amountError} hint={`In ${user.currency}`}>
          {(id) => <input id={id} inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />}
        </Field>
        <Field label="Alert at (percent)" hint="Up to 5, separated by commas">
          {(id) => <input id={id} value={thresholds} onChange={(e) => setThresholds(e.target.value)} />}
        </Field>
        <label className="check">
          <input type="checkbox" checked={repeat} onChange={(e) => setRepeat(e.target.checked)} /> Repeat every month
        </label>
        <label className="check">
          <input type="checkbox" checked={hardLimit} onChange={(e) => setHardLimit(e.target.checked)} /> Hard limit (refuse
          expenses past it)
        </label>
        <button type="submit" className="primary">
          Save budget
        </button>
      </form>
      <ErrorMessage message={error} />
      <ul className="plain budget-list">
        {budgets.map((b) => {
          const s = statusOf(b.id);
          return (
            <li key={b.id} className="card">
              <strong>{b.category ?? "All spending"}</strong> {formatMoney(b.amount, user.currency)}
              {b.repeat && " · repeats"}
              {b.hard_limit && " · hard limit"}
              {b.month !== month && ` · from ${b.month}`}
              {s && (
                <span>
                  {" "}
                  · spent {formatMoney(s.spent, user.currency)} ({s.percent_used}%, {s.state})
                </span>
              )}
              <div className="actions">
                <button type="button" aria-label={`Edit the ${b.category ?? "overall"} budget`} onClick={() => edit(b)}>
                  Edit
                </button>
                <button type="button" aria-label={`Delete the ${b.category ?? "overall"} budget`} onClick={() => void remove(b)}>
                  Delete
                </button>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
