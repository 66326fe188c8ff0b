import { useId, type ReactNode } from "react";
import { addMonths, monthLabel } from "./lib/month";

export function Field(props: {
  label: string;
  children: (id: string) => ReactNode;
  hint?: string;
  error?: string | null;
}) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.children(id)}
      {props.hint && <small>{props.hint}</small>}
      {props.error && (
        <small className="field-error" role="alert">
          {props.error}
        </small>
      )}
    </div>
  );
}

export function ErrorMessage({ message }: { message: string | null }) {
  if (!message) return null;
  return (
    <p className="error" role="alert">
      <strong>Error: </strong>
      {message}
    </p>
  );
}

export function MonthPicker({ month, onChange }: { month: string; onChange: (m: string) => void }) {
  const id = useId();
  return (
    <div className="month-picker">
      <button type="button" aria-label="Previous month" onClick={() => onChange(addMonths(month, -1))}>
        ‹
      </button>
      <label htmlFor={id} className="visually-hidden">
        Month
      </label>
      <input
        id={id}
        type="month"
        value={month}
        onChange={(e) => e.target.value && onChange(e.target.value)}
      />
      <span aria-live="polite" className="month-label">
        {monthLabel(month)}
      </span>
      <button type="button" aria-label="Next month" onClick={() => onChange(addMonths(month, 1))}>
        ›
      </button>
    </div>
  );
}

export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
