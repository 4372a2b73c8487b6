// planwatch dashboard: the pages' charts (ECharts), maps (MapLibre) and forms. Everything it loads comes
// from this server. Text from the store is always set with textContent, never as HTML.
import * as maplibregl from "/static/vendor/maplibre-gl.mjs";

const view = document.body.dataset.view;
const lang = document.body.dataset.lang;
const zh = lang !== "en";
const dataNode = document.getElementById("page-data");
const data = dataNode ? JSON.parse(dataNode.textContent) : {};
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const COLOURS = { green: "#2e7d32", yellow: "#f9a825", red: "#c62828" };
const SEVERITY = { forbidden: "禁止（forbidden）", restricted: "限制（restricted）", guidance: "引导（guidance）" };
const LEVEL = { green: zh ? "绿灯" : "on track", yellow: zh ? "黄灯" : "lagging", red: zh ? "红灯" : "off track" };

// ------------------------------------------------------------------ helpers
async function api(url, options = {}) {
  const headers = { ...(options.headers || {}), "X-CSRF-Token": csrf };
  const response = await fetch(url, { ...options, headers, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : response.statusText;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k === "colour") node.style.background = v; // CSSOM, which the CSP allows (no inline style attribute)
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return node;
}

function table(headers, rows) {
  return el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", {}, c))))));
}

function say(node, text, ok) {
  node.replaceChildren(el("p", { class: ok ? "result-ok" : "result-bad", role: "status" }, text));
}

function fmt(x, digits = 2) {
  if (x == null || Number.isNaN(Number(x))) return "—";
  return Number(x).toLocaleString(zh ? "zh-CN" : "en-GB", { maximumFractionDigits: digits });
}

function chart(id) {
  const node = document.getElementById(id);
  if (!node || !window.echarts) return null;
  const c = window.echarts.init(node, null, { renderer: "canvas" });
  window.addEventListener("resize", () => c.resize());
  return c;
}

const FONT = { fontFamily: "Noto Sans CJK SC, sans-serif" };

// ------------------------------------------------------------------ 1. the overview board
function board() {
  const c = chart("chart-categories");
  if (!c) return;
  c.setOption({
    animation: false, textStyle: FONT, tooltip: { trigger: "axis" }, legend: { top: 0 },
    grid: { left: 40, right: 10, top: 30, bottom: 30 },
    xAxis: { type: "category", data: data.categories }, yAxis: { type: "value", minInterval: 1 },
    series: ["green", "yellow", "red"].map((lv) => ({ name: LEVEL[lv], type: "bar", stack: "n", data: data.series[lv], itemStyle: { color: COLOURS[lv] } })),
  });
}

// ------------------------------------------------------------------ 2. one indicator
function indicator() {
  const c = chart("chart-indicator");
  if (!c) return;
  const series = [
    { name: zh ? "观测值" : "Observed", type: "line", data: data.observed, symbolSize: 8, lineStyle: { width: 3 }, itemStyle: { color: "#0d3b66" } },
    { name: zh ? "目标路径" : "Target path", type: "line", data: data.path, lineStyle: { type: "dashed" }, itemStyle: { color: "#2e7d32" } },
  ];
  if (data.forecast && data.forecast.length) {
    series.push({ name: zh ? `预测（线性，${data.forecast_points} 个点）` : `Forecast (linear, ${data.forecast_points} points)`, type: "line", data: data.forecast, lineStyle: { type: "dotted" }, itemStyle: { color: "#a15c00" } });
  }
  c.setOption({
    animation: false, textStyle: FONT, tooltip: { trigger: "axis" }, legend: { top: 0 },
    grid: { left: 60, right: 20, top: 40, bottom: 30 },
    xAxis: { type: "value", min: "dataMin", max: "dataMax", minInterval: 1, axisLabel: { formatter: (v) => String(v) } },
    yAxis: { type: "value", name: data.unit, scale: true },
    series,
  });
}

// ------------------------------------------------------------------ 5. the ledger
function ledgerView() {
  const c = chart("chart-pools");
  if (!c) return;
  const names = { available: zh ? "可用" : "Available", reserved: zh ? "已预留" : "Reserved", committed: zh ? "已使用" : "Committed" };
  c.setOption({
    animation: false, textStyle: FONT, tooltip: { trigger: "axis" }, legend: { top: 0 },
    grid: { left: 90, right: 20, top: 30, bottom: 90 },
    xAxis: { type: "category", data: data.pools, axisLabel: { rotate: 60, fontSize: 10 } },
    yAxis: { type: "value", name: "m²" },
    series: ["available", "reserved", "committed"].map((k, i) => ({ name: names[k], type: "bar", stack: "q", data: data[k], itemStyle: { color: ["#4c9be8", "#f9a825", "#0d3b66"][i] } })),
  });
}

// ------------------------------------------------------------------ maps (3, 4)
const PALETTE = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666", "#1f78b4", "#b2df8a", "#fb9a99", "#cab2d6"];
const LIMIT = 10000;

function newMap() {
  const style = { version: 8, sources: {}, layers: [{ id: "background", type: "background", paint: { "background-color": "#eef2f4" } }] };
  if (data.tiles) {
    style.sources.basemap = { type: "raster", tiles: [data.tiles], tileSize: 256 };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  const map = new maplibregl.Map({ container: "map", style, center: [116.4, 40.2], zoom: 7.2, attributionControl: { compact: true, customAttribution: "planwatch" } });
  map.addControl(new maplibregl.NavigationControl(), "top-right");
  map.addControl(new maplibregl.ScaleControl(), "bottom-left");
  window.planwatchMap = map;
  return map;
}

async function layerData(id, bbox) {
  const url = `/ogc/collections/${encodeURIComponent(id)}/items?limit=${LIMIT}` + (bbox ? `&bbox=${bbox.join(",")}` : "");
  return api(url, { headers: { Accept: "application/geo+json" } });
}

function addLayer(map, id, geojson, colour, { outline = false, prefix = "lyr" } = {}) {
  const source = `${prefix}-${id}`;
  if (map.getSource(source)) return [];
  map.addSource(source, { type: "geojson", data: geojson });
  const kinds = new Set(geojson.features.map((f) => f.geometry && f.geometry.type));
  const added = [];
  if (kinds.has("Polygon") || kinds.has("MultiPolygon")) {
    if (!outline) {
      map.addLayer({ id: `${source}-fill`, type: "fill", source, filter: ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], true, false], paint: { "fill-color": colour, "fill-opacity": 0.35 } });
      added.push(`${source}-fill`);
    }
    map.addLayer({ id: `${source}-line`, type: "line", source, filter: ["match", ["geometry-type"], ["Polygon", "MultiPolygon"], true, false], paint: { "line-color": colour, "line-width": outline ? 1.5 : 0.8 } });
    added.push(`${source}-line`);
  }
  if (kinds.has("LineString") || kinds.has("MultiLineString")) {
    map.addLayer({ id: `${source}-lines`, type: "line", source, filter: ["match", ["geometry-type"], ["LineString", "MultiLineString"], true, false], paint: { "line-color": colour, "line-width": 1.2 } });
    added.push(`${source}-lines`);
  }
  if (kinds.has("Point") || kinds.has("MultiPoint")) {
    map.addLayer({ id: `${source}-pts`, type: "circle", source, filter: ["match", ["geometry-type"], ["Point", "MultiPoint"], true, false], paint: { "circle-color": colour, "circle-radius": 3.5, "circle-stroke-color": "#fff", "circle-stroke-width": 0.5 } });
    added.push(`${source}-pts`);
  }
  return added;
}

function showAttributes(feature, title) {
  const box = document.getElementById("attributes");
  if (!box) return;
  const rows = Object.entries(feature.properties || {}).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v]);
  box.replaceChildren(el("h3", {}, title), table([zh ? "属性" : "Attribute", zh ? "值" : "Value"], rows));
  box.querySelector("table").classList.add("attr");
}

function oneMap() {
  const map = newMap();
  const layerIds = {};
  const names = Object.fromEntries(data.layers.map((l) => [l.id, l]));
  const toggles = [...document.querySelectorAll("#layer-list input[data-layer]")];
  const note = (id, geojson) => {
    const label = toggles.find((t) => t.dataset.layer === id).parentElement;
    label.querySelector(".count")?.remove();
    const matched = geojson.numberMatched ?? geojson.features.length;
    if (matched > geojson.features.length) label.append(el("small", { class: "count" }, ` （${data.shown_first} ${geojson.features.length} / ${matched} ${data.features}）`));
  };
  async function toggle(input) {
    const id = input.dataset.layer;
    if (layerIds[id]) {
      for (const l of layerIds[id]) map.setLayoutProperty(l, "visibility", input.checked ? "visible" : "none");
      return;
    }
    if (!input.checked) return;
    const geojson = await layerData(id);
    const colour = id === "districts" ? "#333333" : PALETTE[data.layers.findIndex((l) => l.id === id) % PALETTE.length];
    layerIds[id] = addLayer(map, id, geojson, colour, { outline: id === "districts" });
    note(id, geojson);
    for (const l of layerIds[id]) {
      map.on("click", l, (e) => {
        const f = e.features[0];
        const info = names[id];
        showAttributes(f, `${info.name}${info.synthetic ? "（" + data.synthetic_label + "）" : ""}`);
      });
      map.on("mouseenter", l, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", l, () => { map.getCanvas().style.cursor = ""; });
    }
    document.getElementById("map").dataset.loaded = Object.keys(layerIds).join(",");
  }
  map.on("load", async () => {
    for (const input of toggles) {
      input.addEventListener("change", () => toggle(input).catch((e) => console.error(e)));
      if (input.checked) await toggle(input).catch((e) => console.error(e));
    }
    document.getElementById("map").dataset.ready = "1";
  });
  const select = document.getElementById("choropleth");
  let districts = null;
  select.addEventListener("change", async () => {
    const key = select.value;
    const legend = document.getElementById("legend");
    if (map.getLayer("choropleth")) map.removeLayer("choropleth");
    if (map.getSource("choropleth")) map.removeSource("choropleth");
    legend.replaceChildren();
    if (!key) return;
    districts = districts || await layerData("districts");
    const figures = await api(`/map/districts.json?key=${encodeURIComponent(key)}&year=${data.year}`);
    const values = Object.values(figures.values).map(Number);
    const lo = Math.min(...values), hi = Math.max(...values);
    const shaded = { type: "FeatureCollection", features: districts.features.map((f) => {
      const name = f.properties.district || f.properties.name;
      const v = figures.values[name];
      return { ...f, properties: { ...f.properties, value: v == null ? null : Number(v) } };
    }) };
    map.addSource("choropleth", { type: "geojson", data: shaded });
    const ramp = ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"];
    const stops = ramp.map((c, i) => [lo + (hi - lo) * i / (ramp.length - 1), c]);
    map.addLayer({ id: "choropleth", type: "fill", source: "choropleth", paint: {
      "fill-color": ["case", ["==", ["get", "value"], null], "#dddddd", ["interpolate", ["linear"], ["get", "value"], ...(hi > lo ? stops.flat() : [lo, ramp[2]])]],
      "fill-opacity": 0.8 } }, map.getLayer("lyr-districts-line") ? "lyr-districts-line" : undefined);
    map.on("click", "choropleth", (e) => showAttributes(e.features[0], `${figures.name}（${figures.unit}）`));
    legend.append(el("p", {}, `${figures.name}（${figures.unit}）${figures.synthetic ? "【" + data.synthetic_label + "】" : ""}`));
    for (const [v, c] of stops) legend.append(el("div", {}, el("span", { class: "swatch", colour: c }), fmt(v, 2)));
    document.getElementById("map").dataset.choropleth = key;
  });
}

// ------------------------------------------------------------------ 4. project review
function reviewView() {
  const map = newMap();
  map.doubleClickZoom.disable();
  let points = [], polygon = null;
  const run = document.getElementById("run-review");
  const result = document.getElementById("review-result");
  const sketch = () => {
    const ring = polygon ? polygon.geometry.coordinates[0] : points;
    const features = [];
    if (ring.length >= 2) features.push({ type: "Feature", properties: {}, geometry: polygon ? polygon.geometry : { type: "LineString", coordinates: ring } });
    for (const p of points) features.push({ type: "Feature", properties: {}, geometry: { type: "Point", coordinates: p } });
    map.getSource("sketch").setData({ type: "FeatureCollection", features });
  };
  map.on("load", async () => {
    map.addSource("sketch", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "sketch-fill", type: "fill", source: "sketch", filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": "#0d3b66", "fill-opacity": 0.25 } });
    map.addLayer({ id: "sketch-line", type: "line", source: "sketch", paint: { "line-color": "#0d3b66", "line-width": 2 } });
    map.addLayer({ id: "sketch-pts", type: "circle", source: "sketch", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 4, "circle-color": "#0d3b66" } });
    try { addLayer(map, "districts", await layerData("districts"), "#333333", { outline: true }); } catch (e) { console.error(e); }
    document.getElementById("map").dataset.ready = "1";
  });
  map.on("click", (e) => {
    if (polygon) return;
    points.push([e.lngLat.lng, e.lngLat.lat]);
    sketch();
  });
  map.on("dblclick", () => {
    if (polygon || points.length < 3) return;
    polygon = { type: "Feature", properties: { name: zh ? "绘制的地块" : "drawn parcel" }, geometry: { type: "Polygon", coordinates: [[...points, points[0]]] } };
    points = [];
    sketch();
    run.disabled = false;
  });
  document.getElementById("clear").addEventListener("click", () => {
    points = []; polygon = null; uploaded = null; run.disabled = true; sketch(); result.replaceChildren();
    delete result.dataset.conflicts;
    for (const id of conflictLayers) { if (map.getLayer(id)) map.removeLayer(id); }
    conflictLayers = [];
  });
  let uploaded = null;
  let conflictLayers = [];
  document.getElementById("geojson-file").addEventListener("change", async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const gj = JSON.parse(await file.text());
      uploaded = gj.type === "FeatureCollection" ? gj : gj.type === "Feature" ? { type: "FeatureCollection", features: [gj] } : { type: "FeatureCollection", features: [{ type: "Feature", properties: {}, geometry: gj }] };
      map.getSource("sketch").setData(uploaded);
      const xs = [], ys = [];
      for (const f of uploaded.features) JSON.stringify(f.geometry.coordinates).replace(/-?\d+\.?\d*,-?\d+\.?\d*/g, (m) => { const [x, y] = m.split(",").map(Number); xs.push(x); ys.push(y); return m; });
      if (xs.length) map.fitBounds([[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]], { padding: 60, duration: 0 });
      run.disabled = false;
    } catch (err) {
      say(result, `${file.name}: ${zh ? "不是 GeoJSON" : "not GeoJSON"} (${err.message})`, false);
    }
  });
  run.addEventListener("click", async () => {
    const body = uploaded || { type: "FeatureCollection", features: [polygon] };
    delete result.dataset.conflicts;
    result.replaceChildren(el("p", {}, zh ? "审查中…" : "Reviewing…"));
    try {
      const records = await api("/api/reviews", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const out = [];
      const hit = new Set();
      for (const r of records) {
        out.push(el("h3", {}, `#${r.id} · ${data.labels.area} ${fmt(r.area_m2 / 10000, 2)} ${zh ? "公顷" : "ha"}`));
        if (!r.conflicts.length) out.push(el("p", { class: "result-ok" }, data.labels.no_conflicts));
        else {
          out.push(el("h4", {}, data.labels.conflicts));
          out.push(table([zh ? "图层" : "Layer", zh ? "规则" : "Rule", zh ? "程度" : "Severity", zh ? "重叠 m²" : "Overlap m²", zh ? "条款" : "Article"],
            r.conflicts.map((c) => [`${c.layer_name}${c.synthetic ? "（" + data.labels.synthetic + "）" : ""}`, c.rule, zh ? (SEVERITY[c.severity] || c.severity) : c.severity, fmt(c.overlap_m2, 0), c.article ? `第${c.article}条` : ""])));
          for (const c of r.conflicts) hit.add(c.layer);
        }
        if (r.zones && r.zones.length) {
          out.push(el("h4", {}, data.labels.zones));
          out.push(table([zh ? "图层" : "Layer", zh ? "分区" : "Zone", zh ? "占比" : "Share"], r.zones.map((z) => [z.layer_name, z.zone, `${fmt(100 * z.share, 1)}%`])));
        }
      }
      result.replaceChildren(...out);
      result.dataset.conflicts = String(records.reduce((n, r) => n + r.conflicts.length, 0));
      const xs = [], ys = [];
      for (const f of body.features) JSON.stringify(f.geometry.coordinates).replace(/-?\d+\.?\d*,-?\d+\.?\d*/g, (m) => { const [x, y] = m.split(",").map(Number); xs.push(x); ys.push(y); return m; });
      const pad = 0.02;
      const bbox = [Math.min(...xs) - pad, Math.min(...ys) - pad, Math.max(...xs) + pad, Math.max(...ys) + pad];
      for (const id of hit) {
        const gj = await layerData(id, bbox);
        conflictLayers.push(...addLayer(map, id, gj, "#c62828", { prefix: "conflict" }));
      }
      map.moveLayer("sketch-fill"); map.moveLayer("sketch-line");
      document.getElementById("map").dataset.conflictLayers = [...hit].join(",");
    } catch (err) {
      say(result, err.message, false);
    }
  });
  const form = document.getElementById("reserve-form");
  if (form) form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = document.getElementById("reserve-result");
    const body = Object.fromEntries(new FormData(form).entries());
    try {
      const done = await api("/api/ledger/reserve", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      say(out, `${zh ? "已预留" : "Reserved"}：${body.project} · ${body.pool} · ${fmt(body.amount)} m²${done.repeated ? (zh ? "（重复提交，未再记账）" : " (a repeat: nothing posted twice)") : ""}`, true);
    } catch (err) {
      say(out, err.message, false);
    }
  });
}

// ------------------------------------------------------------------ 6. a finding's transitions
function findingView() {
  for (const form of document.querySelectorAll("form.finding-action")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = document.getElementById("action-result");
      const fd = new FormData(form);
      fd.append("if_version", form.dataset.version);
      try {
        await api(`/api/findings/${form.dataset.finding}/${form.dataset.action}`, { method: "POST", body: fd });
        window.location.reload();
      } catch (err) {
        say(out, err.message, false);
      }
    });
  }
}

// ------------------------------------------------------------------ 7. data entry
function entryView() {
  const form = document.getElementById("entry-form");
  if (!form) return;
  const out = document.getElementById("entry-result");
  const commit = document.getElementById("commit-button");
  const input = form.querySelector('input[type="file"]');
  input.addEventListener("change", () => { commit.disabled = true; out.replaceChildren(); delete out.dataset.ok; delete out.dataset.imported; });
  const send = (url) => { const fd = new FormData(); fd.append("file", input.files[0]); return api(url, { method: "POST", body: fd }); };
  document.getElementById("preview-button").addEventListener("click", async () => {
    if (!input.files.length) return;
    try {
      const p = await send("/api/observations/preview");
      const parts = [el("p", { class: p.ok ? "result-ok" : "result-bad" }, p.ok ? `${p.file}：${p.rows} ${data.ok_rows}` : `${p.file}：${p.errors.length} ${data.errors}`)];
      if (p.errors.length) parts.push(table([data.row, zh ? "字段" : "Field", data.errors], p.errors.map((x) => [x.row, x.column, x.message])));
      if (p.preview.length) parts.push(table(Object.keys(p.preview[0]), p.preview.map((r) => Object.values(r))));
      out.replaceChildren(...parts);
      out.dataset.ok = String(p.ok);
      commit.disabled = !p.ok;
    } catch (err) {
      say(out, err.message, false);
    }
  });
  commit.addEventListener("click", async () => {
    try {
      const done = await send("/api/observations");
      say(out, zh ? `已导入：新增 ${done.added}，修订 ${done.revised}，未变 ${done.unchanged}（导入批次 ${done.import_id}）` : `Imported: ${done.added} added, ${done.revised} revised, ${done.unchanged} unchanged (import ${done.import_id})`, true);
      commit.disabled = true;
      out.dataset.imported = String(done.import_id);
    } catch (err) {
      say(out, err.message, false);
    }
  });
}

const VIEWS = { board, indicators: () => { if (document.getElementById("chart-indicator")) indicator(); }, map: oneMap, review: reviewView, ledger: ledgerView, findings: findingView, entry: entryView };
try {
  (VIEWS[view] || (() => {}))();
} finally {
  document.body.dataset.ready = "1";
}
