import {
  ArcElement,
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  DoughnutController,
  Legend,
  LinearScale,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { useEffect, useRef } from "react";

Chart.register(ArcElement, BarController, BarElement, CategoryScale, DoughnutController, Legend, LinearScale, Tooltip);

const COLORS = ["#2563eb", "#16a34a", "#d97706", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

/** Amounts arrive as decimal strings; a chart only draws them, so Number() is enough here. */
function drawable(amount: string): number {
  return Number(amount);
}

function useChart(config: ChartConfiguration, key: string) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return canvas;
}

export function CategoryChart(props: { categories: { category: string; total: string }[]; label: string }) {
  const key = JSON.stringify(props.categories);
  const canvas = useChart(
    {
      type: "doughnut",
      data: {
        labels: props.categories.map((c) => c.category),
        datasets: [
          {
            data: props.categories.map((c) => drawable(c.total)),
            backgroundColor: props.categories.map((_, i) => COLORS[i % COLORS.length] ?? "#888"),
          },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
    },
    key,
  );
  return (
    <div className="chart">
      <canvas ref={canvas} role="img" aria-label={props.label} />
    </div>
  );
}

export function TrendChart(props: { months: { label: string; expense: string; income: string }[]; label: string }) {
  const key = JSON.stringify(props.months);
  const canvas = useChart(
    {
      type: "bar",
      data: {
        labels: props.months.map((m) => m.label),
        datasets: [
          { label: "Expense", data: props.months.map((m) => drawable(m.expense)), backgroundColor: "#dc2626" },
          { label: "Income", data: props.months.map((m) => drawable(m.income)), backgroundColor: "#16a34a" },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { position: "bottom" } } },
    },
    key,
  );
  return (
    <div className="chart">
      <canvas ref={canvas} role="img" aria-label={props.label} />
    </div>
  );
}
