// Draws the manager's progress charts from the JSON in #progress-data. The tables next to the
// charts carry the same numbers, so the page is complete without JavaScript.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("progress-data");
  if (!source || typeof window.Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const bar = (id, labels, values, title) => {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    new window.Chart(canvas, {
      type: "bar",
      data: { labels, datasets: [{ label: title, data: values, backgroundColor: "#2f6fdb" }] },
      options: { animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } },
    });
  };
  bar(
    "distribution-chart",
    data.distribution.map((row) => `${row.labels} labels`),
    data.distribution.map((row) => row.examples),
    "Examples",
  );
  bar(
    "labelers-chart",
    data.labelers.map((row) => row.username),
    data.labelers.map((row) => row.done),
    "Labels done",
  );
});
