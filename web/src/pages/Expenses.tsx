import { useEffect, useState, type FormEvent } from "react";
import { useSession } from "../context";
import type { Category, Expense, ExpenseFilters, ExpenseInput, ImportReport, Kind, Page } from "../lib/api";
import { checkAmount, formatMoney } from "../lib/money";
import { currentMonth, today } from "../lib/month";
import { ErrorMessage, Field, errorText } from "../ui";

const PAGE_SIZE = 20;
const SUGGESTION_SHOWN_FROM = 0.5;

export function Expenses() {
  const { api, user, toast } = useSession();
  const [filters, setFilters] = useState<ExpenseFilters>(() => ({ month: currentMonth(user.timezone), sort: "-date" }));
  const [draft, setDraft] = useState<ExpenseFilters>(filters);
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<Expense> | null>(null);
  const [categories, setCategories] = useState<Category[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [editing, setEditing] = useState<Expense | "new" | null>(null);
  const [reload, setReload] = useState(0);
  const [report, setReport] = useState<ImportReport | null>(null);
  const [file, setFile] = useState<File | null>(null);

  useEffect(() => {
    api.categories().then(setCategories, (e: unknown) => setError(errorText(e)));
  }, [api]);

  useEffect(() => {
    let current = true;
    api.expenses({ ...filters, limit: PAGE_SIZE, offset }).then(
      (p) => {
        if (current) {
          setPage(p);
          setError(null);
        }
      },
      (e: unknown) => current && setError(errorText(e)),
    );
    return () => {
      current = false;
    };
  }, [api, filters, offset, reload]);

  const apply = (e: FormEvent) => {
    e.preventDefault();
    const min = draft.min_amount?.trim();
    const max = draft.max_amount?.trim();
    for (const [label, value] of [["Minimum amount", min], ["Maximum amount", max]] as const) {
      const problem = value ? checkAmount(value) : null;
      if (problem) {
        setError(`${label}: ${problem}`);
        return;
      }
    }
    setOffset(0);
    setFilters({ ...draft });
  };

  const remove = async (expense: Expense) => {
    if (!window.confirm(`Delete ${expense.description || expense.category} of ${expense.date}?`)) return;
    try {
      await api.deleteExpense(expense.id);
      toast("Deleted.");
      setReload((n) => n + 1);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const exportCsv = async () => {
    try {
      const blob = await api.exportCsv(filters);
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = "expenses.csv";
      a.click();
      URL.revokeObjectURL(url);
    } catch (e) {
      setError(errorText(e));
    }
  };

  const importCsv = async (e: FormEvent) => {
    e.preventDefault();
    if (!file) {
      setError("Choose a CSV file to import.");
      return;
    }
    try {
      setReport(await api.importCsv(file));
      setReload((n) => n + 1);
    } catch (err) {
      setError(errorText(err));
    }
  };

  const set = (key: keyof ExpenseFilters) => (value: string) => setDraft((d) => ({ ...d, [key]: value }));

  return (
    <section aria-labelledby="expenses-title">
      <div className="page-head">
        <h1 id="expenses-title">Expenses</h1>
        <button type="button" className="primary" onClick={() => setEditing("new")}>
          Add expense
        </button>
      </div>
      {editing && (
        <ExpenseForm
          key={editing === "new" ? "new" : editing.id}
          expense={editing === "new" ? null : editing}
          categories={categories}
          onDone={(saved) => {
            setEditing(null);
            if (saved) {
              toast(`Saved ${saved.description || saved.category}.`);
              setReload((n) => n + 1);
            }
          }}
        />
      )}
      <form className="card filters" onSubmit={apply} aria-label="Filters">
        <Field label="Month">
          {(id) => <input id={id} type="month" value={draft.month ?? ""} onChange={(e) => set("month")(e.target.value)} />}
        </Field>
        <Field label="From">
          {(id) => <input id={id} type="date" value={draft.from ?? ""} onChange={(e) => set("from")(e.target.value)} />}
        </Field>
        <Field label="To">
          {(id) => <input id={id} type="date" value={draft.to ?? ""} onChange={(e) => set("to")(e.target.value)} />}
        </Field>
        <Field label="Category">
          {(id) => (
            <select id={id} value={draft.category ?? ""} onChange={(e) => set("category")(e.target.value)}>
              <option value="">any</option>
              {categories.map((c) => (
                <option key={c.name}>{c.name}</option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Kind">
          {(id) => (
            <select id={id} value={draft.kind ?? ""} onChange={(e) => set("kind")(e.target.value)}>
              <option value="">any</option>
              <option value="expense">expense</option>
              <option value="income">income</option>
            </select>
          )}
        </Field>
        <Field label="Tag">
          {(id) => <input id={id} value={draft.tag ?? ""} onChange={(e) => set("tag")(e.target.value)} />}
        </Field>
        <Field label="Search">
          {(id) => <input id={id} type="search" value={draft.q ?? ""} onChange={(e) => set("q")(e.target.value)} />}
        </Field>
        <Field label="Minimum amount">
          {(id) => <input id={id} inputMode="decimal" value={draft.min_amount ?? ""} onChange={(e) => set("min_amount")(e.target.value)} />}
        </Field>
        <Field label="Maximum amount">
          {(id) => <input id={id} inputMode="decimal" value={draft.max_amount ?? ""} onChange={(e) => set("max_amount")(e.target.value)} />}
        </Field>
        <Field label="Sort by">
          {(id) => (
            <select id={id} value={draft.sort ?? "-date"} onChange={(e) => set("sort")(e.target.value)}>
              <option value="-date">newest first</option>
              <option value="date">oldest first</option>
              <option value="-amount">largest first</option>
              <option value="amount">smallest first</option>
            </select>
          )}
        </Field>
        <div className="actions">
          <button type="submit">Apply filters</button>
          <button
            type="button"
            onClick={() => {
              const reset = { sort: "-date" };
              setDraft(reset);
              setFilters(reset);
              setOffset(0);
            }}
          >
            Clear filters
          </button>
        </div>
      </form>
      <ErrorMessage message={error} />
      {page && (
        <>
          <p aria-live="polite">
            {page.total} {page.total === 1 ? "entry" : "entries"}
          </p>
          <table className="expenses">
            <thead>
              <tr>
                <th scope="col">Date</th>
                <th scope="col">Description</th>
                <th scope="col">Category</th>
                <th scope="col">Tags</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {page.items.map((e) => (
                <tr key={e.id}>
                  <td data-label="Date">{e.date}</td>
                  <td data-label="Description">
                    {e.description}
                    {e.recurring_id && (
                      <span className="pill" title="Created by a recurring rule">
                        recurring
                      </span>
                    )}
                  </td>
                  <td data-label="Category">{e.category}</td>
                  <td data-label="Tags">{e.tags.join(", ")}</td>
                  <td data-label="Amount" className={`num ${e.kind}`}>
                    {e.kind === "income" ? "+" : ""}
                    {formatMoney(e.amount, e.currency)}
                  </td>
                  <td className="row-actions">
                    <button type="button" aria-label={`Edit ${e.description || e.category} of ${e.date}`} onClick={() => setEditing(e)}>
                      Edit
                    </button>
                    <button type="button" aria-label={`Delete ${e.description || e.category} of ${e.date}`} onClick={() => void remove(e)}>
                      Delete
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <nav className="pager" aria-label="Pages">
            <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}>
              Previous page
            </button>
            <span>
              {page.total === 0 ? 0 : offset + 1}–{Math.min(offset + PAGE_SIZE, page.total)} of {page.total}
            </span>
            <button type="button" disabled={offset + PAGE_SIZE >= page.total} onClick={() => setOffset(offset + PAGE_SIZE)}>
              Next page
            </button>
          </nav>
        </>
      )}
      <div className="card csv">
        <h2>CSV</h2>
        <button type="button" onClick={() => void exportCsv()}>
          Export CSV
        </button>
        <form onSubmit={importCsv}>
          <Field label="CSV file to import" hint="Columns: date, amount, category, description, tags, kind.">
            {(id) => <input id={id} type="file" accept=".csv,text/csv" onChange={(e) => setFile(e.target.files?.[0] ?? null)} />}
          </Field>
          <button type="submit">Import</button>
        </form>
        {report && (
          <div className="report" role="status" data-testid="import-report">
            <p>
              Imported {report.imported}, skipped {report.skipped}, {report.errors.length} refused.
              {report.created_categories.length > 0 && ` New categories: ${report.created_categories.join(", ")}.`}
            </p>
            {report.errors.length > 0 && (
              <ul>
                {report.errors.map((err) => (
                  <li key={err.line}>
                    Line {err.line}: {err.detail}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
      </div>
    </section>
  );
}

function ExpenseForm(props: { expense: Expense | null; categories: Category[]; onDone: (saved: Expense | null) => void }) {
  const { api, user } = useSession();
  const initial = props.expense;
  const [kind, setKind] = useState<Kind>(initial?.kind ?? "expense");
  const [amount, setAmount] = useState(initial?.amount ?? "");
  const [category, setCategory] = useState(initial?.category ?? "food");
  // A new entry's category follows the suggestion for its description until the user picks one.
  const [categoryChosen, setCategoryChosen] = useState(initial !== null);
  const [suggested, setSuggested] = useState<string | null>(null);
  const [date, setDate] = useState(initial?.date ?? today(user.timezone));
  const [description, setDescription] = useState(initial?.description ?? "");
  const [tags, setTags] = useState(initial?.tags.join(", ") ?? "");
  const [amountError, setAmountError] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const suggest = async () => {
    const text = description.trim();
    if (categoryChosen || !text) return;
    try {
      const suggestion = await api.suggestCategory(text);
      if (Number(suggestion.confidence) >= SUGGESTION_SHOWN_FROM) {
        setCategory(suggestion.category);
        setSuggested(`Suggested from your history (${Math.round(Number(suggestion.confidence) * 100)}% sure)`);
      }
    } catch {
      // A suggestion is a convenience: the form works without one.
    }
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const problem = checkAmount(amount);
    setAmountError(problem);
    if (problem) return;
    if (!date) {
      setError("Enter a date.");
      return;
    }
    const input: ExpenseInput = {
      kind,
      amount: amount.trim(),
      category,
      date,
      description: description.trim(),
      tags: tags.split(",").map((t) => t.trim()).filter((t) => t !== ""),
    };
    setBusy(true);
    try {
      const saved = initial ? await api.updateExpense(initial.id, input, initial.version) : await api.createExpense(input);
      props.onDone(saved);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="card expense-form" onSubmit={submit} noValidate aria-labelledby="expense-form-title">
      <h2 id="expense-form-title">{initial ? "Edit entry" : "New entry"}</h2>
      <Field label="Kind">
        {(id) => (
          <select id={id} value={kind} onChange={(e) => setKind(e.target.value as Kind)}>
            <option value="expense">expense</option>
            <option value="income">income</option>
          </select>
        )}
      </Field>
      <Field label="Amount" error={amountError} hint={`In ${user.currency}, at most 2 decimal places`}>
        {(id) => (
          <input id={id} inputMode="decimal" required value={amount} aria-invalid={amountError ? true : undefined} onChange={(e) => setAmount(e.target.value)} />
        )}
      </Field>
      <Field label="Description">
        {(id) => <input id={id} value={description} onChange={(e) => setDescription(e.target.value)} onBlur={() => void suggest()} />}
      </Field>
      <Field label="Category" hint={suggested ?? undefined}>
        {(id) => (
          <select
            id={id}
            value={category}
            onChange={(e) => {
              setCategory(e.target.value);
              setCategoryChosen(true);
              setSuggested(null);
            }}
          >
            {props.categories.some((c) => c.name === category) || <option>{category}</option>}
            {props.categories.map((c) => (
              <option key={c.name}>{c.name}</option>
            ))}
          </select>
        )}
      </Field>
      <Field label="Date">
        {(id) => <input id={id} type="date" required value={date} onChange={(e) => setDate(e.target.value)} />}
      </Field>
      <Field label="Tags" hint="Separated by commas">
        {(id) => <input id={id} value={tags} onChange={(e) => setTags(e.target.value)} />}
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
