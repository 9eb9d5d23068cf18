// Agreement dashboard: Chart.js charts with 95% intervals drawn as vertical lines, and the
// colours of the rater-pair kappa heatmap. Data comes from the json_script element
// #agreement-data; every number is also in a table, so the page works without this file.
"use strict";
(() => {
  const COLOURS = ["#2f6fdb", "#d9480f", "#067647", "#9e165f"];

  // Kappa -1..1 to a red-white-blue scale; set through the DOM because the CSP forbids style="".
  const heatColour = (k) => {
    const t = Math.max(-1, Math.min(1, k));
    const mix = (a, b, f) => Math.round(a + (b - a) * f);
    if (t >= 0) return `rgb(${mix(255, 47, t)}, ${mix(255, 111, t)}, ${mix(255, 219, t)})`;
    return `rgb(${mix(255, 180, -t)}, ${mix(255, 35, -t)}, ${mix(255, 24, -t)})`;
  };

  const paintHeatmap = () => {
    document.querySelectorAll("#kappa-heatmap td[data-kappa]").forEach((cell) => {
      const k = Number.parseFloat(cell.dataset.kappa);
      if (Number.isFinite(k)) {
        cell.style.backgroundColor = heatColour(k);
        cell.classList.toggle("dark", Math.abs(k) > 0.6);
      }
    });
  };

  // Draws each point's [low, high] interval (kept in dataset.intervals) as a vertical line with caps.
  const intervalPlugin = {
    id: "intervals",
    afterDatasetsDraw(chart) {
      const { ctx } = chart;
      chart.data.datasets.forEach((dataset, di) => {
        const meta = chart.getDatasetMeta(di);
        if (meta.hidden || !dataset.intervals) return;
        const y = chart.scales[meta.yAxisID];
        ctx.save();
        ctx.strokeStyle = dataset.borderColor;
        ctx.lineWidth = 1.5;
        meta.data.forEach((element, i) => {
          const ci = dataset.intervals[i];
          if (!ci) return;
          const x = element.x;
          const top = y.getPixelForValue(ci[1]);
          const bottom = y.getPixelForValue(ci[0]);
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, bottom);
          ctx.moveTo(x - 4, top);
          ctx.lineTo(x + 4, top);
          ctx.moveTo(x - 4, bottom);
          ctx.lineTo(x + 4, bottom);
          ctx.stroke();
        });
        ctx.restore();
      });
    },
  };

  const coefficientDatasets = (data, rows) =>
    data.coefficients.map((key, i) => ({
      label: data.names[key],
      data: rows.map((row) => (row[key] ? row[key].value : null)),
      intervals: rows.map((row) => (row[key] ? row[key].ci95 : null)),
      borderColor: COLOURS[i % COLOURS.length],
      backgroundColor: COLOURS[i % COLOURS.length],
    }));

  const scaleOptions = { y: { suggestedMin: 0, suggestedMax: 1 } };

  const draw = (id, config) => {
    const canvas = document.getElementById(id);
    if (!canvas || typeof window.Chart === "undefined") return;
    config.options = { responsive: true, maintainAspectRatio: false, animation: false, ...config.options };
    config.plugins = [intervalPlugin];
    new window.Chart(canvas, config);
  };

  const drawCharts = () => {
    const element = document.getElementById("agreement-data");
    if (!element) return;
    const data = JSON.parse(element.textContent);
    draw("chart-history", {
      type: "line",
      data: {
        // In the order of the data each report read (the server sends them so), labelled by that time.
        labels: data.history.map((row) => `#${row.id} ${(row.data_as_of || "").slice(0, 16).replace("T", " ")}`),
        datasets: coefficientDatasets(data, data.history).map((d) => ({ ...d, spanGaps: true })),
      },
      options: { scales: scaleOptions },
    });
    draw("chart-versions", {
      type: "line",
      data: {
        labels: data.versions.map((row) => (row.version === null ? "no version" : `v${row.version}`)),
        datasets: coefficientDatasets(data, data.versions).map((d) => ({ ...d, showLine: false, pointRadius: 4 })),
      },
      options: { scales: scaleOptions },
    });
    draw("chart-labels", {
      type: "bar",
      data: {
        labels: data.per_label.map((row) => row.label),
        datasets: [
          {
            label: "Kappa for this label",
            data: data.per_label.map((row) => row.value),
            intervals: data.per_label.map((row) => row.ci95),
            borderColor: "#1d2330",
            backgroundColor: "#9db8ee",
          },
        ],
      },
      options: { scales: { y: { suggestedMin: 0, suggestedMax: 1 } } },
    });
  };

  document.addEventListener("DOMContentLoaded", () => {
    paintHeatmap();
    drawCharts();
  });
})();
