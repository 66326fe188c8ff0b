import { useEffect, useState, type FormEvent } from "react";
import { useSession } from "../context";
import type { Category, Frequency, Kind, Recurring as Rule, RecurringChange, RecurringInput } from "../lib/api";
import { checkAmount, formatMoney } from "../lib/money";
import { today } from "../lib/month";
import { ErrorMessage, Field, errorText } from "../ui";

const EVERY: Record<Frequency, [string, string]> = {
  daily: ["day", "days"],
  weekly: ["week", "weeks"],
  monthly: ["month", "months"],
  yearly: ["year", "years"],
};

export function describeEvery(rule: Pick<Rule, "frequency" | "interval">): string {
  const [one, many] = EVERY[rule.frequency];
  return rule.interval === 1 ? `every ${one}` : `every ${rule.interval} ${many}`;
}

export function Recurring() {
  const { api, toast } = useSession();
  const [rules, setRules] = useState<Rule[] | null>(null);
  const [categories, setCategories] = useState<Category[]>([]);
  const [adding, setAdding] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [reload, setReload] = useState(0);

  useEffect(() => {
    api.categories().then(setCategories, (e: unknown) => setError(errorText(e)));
  }, [api]);

  useEffect(() => {
    api.recurring().then(
      (page) => setRules(page.items),
      (e: unknown) => setError(errorText(e)),
    );
  }, [api, reload]);

  const change = async (rule: Rule, what: RecurringChange, done: string) => {
    setError(null);
    try {
      await api.changeRecurring(rule.id, what, rule.version);
      toast(done);
      setReload((n) => n + 1);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const remove = async (rule: Rule) => {
    if (!window.confirm(`Delete the rule "${rule.description || rule.category}"? What it created stays.`)) return;
    try {
      await api.deleteRecurring(rule.id);
      toast("Rule deleted; its expenses stay.");
      setReload((n) => n + 1);
    } catch (e) {
      setError(errorText(e));
    }
  };

  return (
    <section aria-labelledby="recurring-title">
      <div className="page-head">
        <h1 id="recurring-title">Recurring</h1>
        <button type="button" className="primary" onClick={() => setAdding(true)}>
          Add recurring
        </button>
      </div>
      <p>Rent, salaries, subscriptions: each occurrence becomes an ordinary entry on its date.</p>
      {adding && (
        <RecurringForm
          categories={categories}
          onDone={(saved) => {
            setAdding(false);
            if (saved) {
              toast(`Saved ${saved.description || saved.category}.`);
              setReload((n) => n + 1);
            }
          }}
        />
      )}
      <ErrorMessage message={error} />
      {rules && rules.length === 0 && <p>No recurring entries yet.</p>}
      {rules && rules.length > 0 && (
        <table className="expenses" aria-label="Recurring rules">
          <thead>
            <tr>
              <th scope="col">Description</th>
              <th scope="col">Category</th>
              <th scope="col">Repeats</th>
              <th scope="col">Next</th>
              <th scope="col" className="num">Amount</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rules.map((rule) => {
              const name = rule.description || rule.category;
              return (
                <tr key={rule.id}>
                  <td data-label="Description">{name}</td>
                  <td data-label="Category">{rule.category}</td>
                  <td data-label="Repeats">{describeEvery(rule)}</td>
                  <td data-label="Next">{rule.paused ? "paused" : (rule.next_date ?? "ended")}</td>
                  <td data-label="Amount" className={`num ${rule.kind}`}>
                    {rule.kind === "income" ? "+" : ""}
                    {formatMoney(rule.amount, rule.currency)}
                  </td>
                  <td className="row-actions">
                    <button
                      type="button"
                      aria-label={`${rule.paused ? "Resume" : "Pause"} ${name}`}
                      onClick={() => void change(rule, { paused: !rule.paused }, rule.paused ? "Resumed." : "Paused.")}
                    >
                      {rule.paused ? "Resume" : "Pause"}
                    </button>
                    <button
                      type="button"
                      aria-label={`Skip the next ${name}`}
                      disabled={rule.paused || rule.next_date === null}
                      onClick={() => void change(rule, { skip_next: true }, "The next one will be skipped.")}
                    >
                      Skip next
                    </button>
                    <button type="button" aria-label={`Delete ${name}`} onClick={() => void remove(rule)}>
                      Delete
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function RecurringForm(props: { categories: Category[]; onDone: (saved: Rule | null) => void }) {
  const { api, user } = useSession();
  const [kind, setKind] = useState<Kind>("expense");
  const [amount, setAmount] = useState("");
  const [category, setCategory] = useState("bills");
  const [description, setDescription] = useState("");
  const [frequency, setFrequency] = useState<Frequency>("monthly");
  const [interval, setInterval] = useState("1");
  const [start, setStart] = useState(today(user.timezone));
  const [end, setEnd] = useState("");
  const [amountError, setAmountError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const problem = checkAmount(amount);
    setAmountError(problem);
    if (problem) return;
    const every = Number(interval);
    if (!Number.isInteger(every) || every < 1) {
      setError("Repeat every 1 or more.");
      return;
    }
    const input: RecurringInput = {
      kind,
      amount: amount.trim(),
      category,
      description: description.trim(),
      frequency,
      interval: every,
      start_date: start,
      end_date: end || null,
    };
    setBusy(true);
    try {
      props.onDone(await api.createRecurring(input));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card expense-form" onSubmit={submit} noValidate aria-labelledby="recurring-form-title">
      <h2 id="recurring-form-title">New recurring entry</h2>
      <Field label="Kind">
        {(id) => (
          <select id={id} value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            <option value="expense">expense</option>
            <option value="income">income</option>
          </select>
        )}
      </Field>
      <Field label="Amount" error={amountError} hint={`In ${user.currency}`}>
        {(id) => <input id={id} inputMode="decimal" required value={amount} onChange={(e) => setAmount(e.target.value)} />}
      </Field>
      <Field label="Description">{(id) => <input id={id} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
      <Field label="Category">
        {(id) => (
          <select id={id} value={category} onChange={(e) => setCategory(e.target.value)}>
            {props.categories.map((c) => (
              <option key={c.name}>{c.name}</option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Frequency">
        {(id) => (
          <select id={id} value={frequency} onChange={(e) => setFrequency(e.target.value as Frequency)}>
            <option value="daily">daily</option>
            <option value="weekly">weekly</option>
            <option value="monthly">monthly</option>
            <option value="yearly">yearly</option>
          </select>
        )}
      </Field>
      <Field label="Every" hint="1: every week, month...; 2: every other">
        {(id) => <input id={id} inputMode="numeric" value={interval} onChange={(e) => setInterval(e.target.value)} />}
      </Field>
      <Field label="First date" hint="A past date creates the entries already due">
        {(id) => <input id={id} type="date" required value={start} onChange={(e) => setStart(e.target.value)} />}
      </Field>
      <Field label="Last date" hint="Optional">
        {(id) => <input id={id} type="date" value={end} onChange={(e) => setEnd(e.target.value)} />}
      </Field>
      <ErrorMessage message={error} />
      <div className="actions">
        <button type="submit" className="primary" disabled={busy}>
          Save
        </button>
        <button type="button" onClick={() => props.onDone(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
