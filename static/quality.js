// Model report: the gap to human-level performance per slice (bars, with 95% intervals drawn as
// vertical lines) and each slice's share of the data (points on a second axis). Data comes from
// the json_script element #model-report-data; every number is also in the table below the chart.
"use strict";
(() => {
  const intervalPlugin = {
    id: "gapIntervals",
    afterDatasetsDraw(chart) {
      const { ctx } = chart;
      const dataset = chart.data.datasets[0];
      const meta = chart.getDatasetMeta(0);
      const y = chart.scales[meta.yAxisID];
      ctx.save();
      ctx.strokeStyle = "#1d2330";
      ctx.lineWidth = 1.5;
      meta.data.forEach((element, i) => {
        const ci = dataset.intervals[i];
        if (!ci) return;
        const top = y.getPixelForValue(ci[1]);
        const bottom = y.getPixelForValue(ci[0]);
        ctx.beginPath();
        ctx.moveTo(element.x, top);
        ctx.lineTo(element.x, bottom);
        ctx.moveTo(element.x - 4, top);
        ctx.lineTo(element.x + 4, top);
        ctx.moveTo(element.x - 4, bottom);
        ctx.lineTo(element.x + 4, bottom);
        ctx.stroke();
      });
      ctx.restore();
    },
  };

  document.addEventListener("DOMContentLoaded", () => {
    const element = document.getElementById("model-report-data");
    const canvas = document.getElementById("chart-gap");
    if (!element || !canvas || typeof window.Chart === "undefined") return;
    const data = JSON.parse(element.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.slices.map((row) => row.value),
        datasets: [
          {
            label: "Gap to human level (HLP - model accuracy)",
            data: data.slices.map((row) => row.gap),
            intervals: data.slices.map((row) => row.gap_ci95),
            backgroundColor: "#f0a57e",
            borderColor: "#d9480f",
            yAxisID: "y",
            order: 2,
          },
          {
            type: "line",
            label: "Share of the data",
            data: data.slices.map((row) => row.share),
            borderColor: "#2f6fdb",
            backgroundColor: "#2f6fdb",
            showLine: false,
            pointRadius: 5,
            yAxisID: "share",
            order: 1,
          },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          y: { title: { display: true, text: "gap (HLP - model)" }, suggestedMin: -0.1, suggestedMax: 0.5 },
          share: { position: "right", min: 0, max: 1, title: { display: true, text: "share of examples" }, grid: { drawOnChartArea: false } },
        },
      },
      plugins: [intervalPlugin],
    });
  });
})();
