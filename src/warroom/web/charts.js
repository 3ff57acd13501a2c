// ECharts views of the wall. Each function only sets data: no re-creation, so no flicker.
/* global echarts */
import { COUNTRIES, PROVINCES, REGIONS } from "./geo.js";

const TEXT = "#e6edf7", MUTED = "#7f8ba3", GRID = "#1c2840";
const COLORS = ["#ff5a36", "#ffc83d", "#4da3ff", "#39d98a", "#b57bff", "#ff8fb1", "#5ee7df", "#f4a261"];
const charts = {};

function chart(id) {
  if (!charts[id]) {
    charts[id] = echarts.init(document.getElementById(id), null, { renderer: "canvas" });
  }
  return charts[id];
}

export function resizeAll() { Object.values(charts).forEach((c) => c.resize()); }

// Frames come four times a second, most with the same slices and series as the last:
// an unchanged chart is not set again (a map redrawn at every frame kept Chromium busy
// with a third of a core the server needed). `key` says what the option shows.
const shown = {};
function update(id, option, key = JSON.stringify(option)) {
  if (shown[id] === key) return;
  shown[id] = key;
  chart(id).setOption(option);
}

const clock = (t) => new Date(t + 8 * 3600e3).toISOString().slice(11, 19);
const baseAxis = {
  axisLine: { lineStyle: { color: GRID } }, axisLabel: { color: MUTED, fontSize: 13 },
  splitLine: { lineStyle: { color: GRID } },
};

export function initCharts() {
  const line = (series) => ({
    animation: false, grid: { left: 56, right: 16, top: 14, bottom: 26 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "time", ...baseAxis, splitLine: { show: false },
      splitNumber: 3, axisLabel: { color: MUTED, fontSize: 13, hideOverlap: true, formatter: (v) => clock(v) } },
    yAxis: { type: "value", ...baseAxis, minInterval: 1 },
    series,
  });
  const area = (name, color) => ({ name, type: "line", showSymbol: false, smooth: 0.2,
    lineStyle: { color, width: 2.5 }, areaStyle: { color, opacity: 0.12 }, data: [] });
  chart("chart-orders").setOption(line([area("orders/s", "#ff5a36")]));
  chart("chart-payments").setOption(line([
    area("succeeded", "#39d98a"), { ...area("failed", "#ff4d6a"), areaStyle: { opacity: 0.35 } }]));
  const geo = (map, extra) => ({
    animation: false,
    tooltip: { trigger: "item", formatter: (p) => `${p.name}<br>${p.data ? p.data.label : "–"}` },
    visualMap: { min: 0, max: 1, show: false, inRange: { color: ["#16213a", "#7a2d1c", "#ff5a36", "#ffc83d"] } },
    series: [{ type: "map", map, roam: false, ...extra, data: [],
      itemStyle: { areaColor: "#121a2c", borderColor: "#2b3957" },
      emphasis: { label: { color: TEXT }, itemStyle: { areaColor: "#4da3ff" } },
      select: { disabled: true }, label: { show: false } }],
  });
  chart("map-china").setOption(geo("china", { layoutCenter: ["50%", "56%"], layoutSize: "118%" }));
  chart("map-world").setOption(geo("world", { layoutCenter: ["50%", "52%"], layoutSize: "150%" }));
  const bars = (valueName) => ({
    animationDurationUpdate: 600, grid: { left: 120, right: 70, top: 6, bottom: 6 },
    xAxis: { type: "value", show: false }, yAxis: { type: "category", inverse: true, data: [],
      axisLabel: { color: TEXT, fontSize: 15 }, axisLine: { show: false }, axisTick: { show: false } },
    series: [{ type: "bar", name: valueName, data: [], barMaxWidth: 18,
      itemStyle: { borderRadius: [0, 4, 4, 0] },
      label: { show: true, position: "right", color: TEXT, fontSize: 14 } }],
  });
  chart("top-category").setOption(bars("GMV"));
  chart("top-method").setOption(bars("success rate"));
  chart("top-channel").setOption({
    animationDurationUpdate: 600, color: COLORS,
    tooltip: { trigger: "item" },
    series: [{ type: "pie", radius: ["45%", "75%"], center: ["50%", "52%"], data: [],
      label: { color: TEXT, fontSize: 15, formatter: "{b} {d}%" }, minShowLabelAngle: 4,
      labelLine: { length: 10, length2: 8 },
      itemStyle: { borderColor: "#0e1524", borderWidth: 2 } }],
  });
}

export function drawSeries(points) {
  const orders = points.map((p) => [p.t, p.orders]);
  const ok = points.map((p) => [p.t, p.pay_successes]);
  const failed = points.map((p) => [p.t, p.pay_attempts - p.pay_successes]);
  update("chart-orders", { series: [{ data: orders }] });
  update("chart-payments", { series: [{ data: ok }, { data: failed }] });
}

export function drawDims(dims, money) {
  const byGmv = (rows) => rows.filter((r) => r.key !== "unknown");
  const shade = (rows, names, more = () => "") => {
    const data = byGmv(rows).filter((r) => names[r.key])
      .map((r) => ({ name: names[r.key], value: Number(r.gmv), label: money(r.gmv) + more(r.key) }));
    const max = Math.max(1, ...data.map((d) => d.value));
    return { data, max };
  };
  const cn = shade(dims.region, PROVINCES);
  update("map-china", { visualMap: { max: cn.max }, series: [{ data: cn.data }] });
  // a country's tooltip lists its regions (US-CA, US-NY…) with their GMV
  const regionsOf = (country) => dims.region.filter((r) => r.key.startsWith(`${country}-`))
    .map((r) => `<br>${r.key} ${REGIONS[r.key] || ""}: ${money(r.gmv)}`).join("");
  const world = shade(dims.country.filter((r) => r.key !== "CN"), COUNTRIES, regionsOf);
  update("map-world", { visualMap: { max: world.max }, series: [{ data: world.data }] });
  const cats = byGmv(dims.category).slice(0, 8);
  const catLabels = cats.map((r) => money(r.gmv, true));
  const catOption = {
    yAxis: { data: cats.map((r) => r.key) },
    series: [{ data: cats.map((r, i) => ({ value: Number(r.gmv), itemStyle: { color: COLORS[i % 8] } })),
      label: { formatter: (p) => catLabels[p.dataIndex] } }],
  };
  update("top-category", catOption, JSON.stringify([catOption, catLabels]));
  update("top-channel", {
    series: [{ data: byGmv(dims.channel).map((r) => ({ name: r.key, value: Number(r.gmv) })) }],
  });
  const methods = byGmv(dims.method).filter((r) => r.payments > 0).slice(0, 8);
  update("top-method", {
    yAxis: { data: methods.map((r) => r.key) },
    series: [{
      data: methods.map((r) => ({ value: r.payment_success_rate * 100,
        itemStyle: { color: r.payment_success_rate < 0.9 ? "#ff4d6a" : "#39d98a" } })),
      label: { formatter: (p) => `${p.value.toFixed(1)}%` },
    }],
  });
}
