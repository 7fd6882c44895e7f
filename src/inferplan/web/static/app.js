// The comparison page: fills the form from the catalog API, posts the request to
// /api/report/view, shows the server-rendered table and draws the plotly figures it returns.
"use strict";

const $ = (id) => document.getElementById(id);
const DEFAULT_HW = ["h100-sxm", "h200-sxm", "b200", "mi300x", "mi325x", "l40s", "rtx-4090",
  "tpu-v6e", "cerebras-cs3", "apple-m4-max-gpu"];
const CHARTS = ["pareto", "throughput", "roofline", "memory"];
const PLOT_CONFIG = { displaylogo: false, responsive: true };
let timer = null;
let seq = 0;

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function option(value, text) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = text;
  return o;
}

async function init() {
  const [models, precisions, hardware] = await Promise.all([
    getJSON("/api/models"), getJSON("/api/precisions"), getJSON("/api/hardware")]);
  for (const m of models.models) {
    const active = m.active_params < m.total_params * 0.99 ? `, ${(m.active_params / 1e9).toPrecision(3)}B active` : "";
    $("model").append(option(m.id, `${m.id} (${(m.total_params / 1e9).toPrecision(3)}B${active})`));
  }
  $("model").value = "llama-3.1-70b";
  for (const p of precisions.precisions) {
    $("precision").append(option(p.id, `${p.id} (${p.bits_per_weight} bits)`));
    $("kv_precision").append(option(p.id, p.id));
  }
  const byClass = {};
  for (const h of hardware.hardware) (byClass[h.hw_class] ||= []).push(h);
  for (const [cls, hws] of Object.entries(byClass)) {
    const g = document.createElement("div");
    g.className = "hwgroup";
    const b = document.createElement("b");
    b.textContent = cls;
    b.title = "click to select or clear this class";
    b.addEventListener("click", () => {
      const boxes = g.querySelectorAll("input");
      const on = ![...boxes].every((x) => x.checked);
      boxes.forEach((x) => { x.checked = on; });
      changed();
    });
    g.append(b);
    for (const h of hws) {
      const l = document.createElement("label");
      const cb = document.createElement("input");
      cb.type = "checkbox";
      cb.value = h.id;
      cb.checked = DEFAULT_HW.includes(h.id);
      const mem = h.memory_bytes ? `${(h.memory_bytes / 1e9).toPrecision(3)} GB` : "";
      const s = document.createElement("span");
      s.className = "muted";
      s.textContent = mem;
      l.append(cb, document.createTextNode(h.id), s);
      g.append(l);
    }
    $("hardware").append(g);
  }
  $("hw-filter").addEventListener("input", () => {
    const q = $("hw-filter").value.toLowerCase();
    document.querySelectorAll("#hardware label").forEach((l) => {
      l.hidden = q !== "" && !l.textContent.toLowerCase().includes(q);
    });
  });
  document.querySelectorAll("input[name=source]").forEach((r) => r.addEventListener("change", () => {
    const paste = sourceIsConfig();
    $("config-box").hidden = !paste;
    $("model").hidden = paste;
  }));
  $("config-file").addEventListener("change", async () => {
    const f = $("config-file").files[0];
    if (f) { $("config").value = await f.text(); changed(); }
  });
  $("mode").addEventListener("change", modeLabel);
  $("form").addEventListener("change", changed);
  $("form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("download").addEventListener("click", download);
  modeLabel();
  countHardware();
  run();
}

function sourceIsConfig() {
  return document.querySelector("input[name=source]:checked").value === "config";
}

function modeLabel() {
  const m = $("mode").value;
  $("batch-label").firstChild.textContent = m === "batch" ? "batch size " : "users ";
  $("batch").disabled = m === "offline";
  $("requests-label").hidden = m !== "offline";
}

function countHardware() {
  const n = selectedHardware().length;
  $("hw-count").textContent = `(${n} selected)`;
}

function selectedHardware() {
  return [...document.querySelectorAll("#hardware input:checked")].map((x) => x.value);
}

function changed() {
  countHardware();
  clearTimeout(timer);
  timer = setTimeout(run, 500);
}

function request() {
  const int = (id) => parseInt($(id).value, 10);
  const body = {
    mode: $("mode").value, batch: Math.max(1, int("batch") || 1),
    input_len: int("input_len"), output_len: int("output_len"), sort: $("sort").value,
    hardware: selectedHardware(),
  };
  if (body.mode === "offline" && int("requests") > 0) body.requests = int("requests");
  if ($("precision").value) body.precision = $("precision").value;
  if ($("kv_precision").value) body.kv_precision = $("kv_precision").value;
  if (sourceIsConfig()) {
    let cfg;
    try { cfg = JSON.parse($("config").value); } catch (e) { throw new Error(`config.json is not valid JSON: ${e.message}`); }
    body.config = cfg;
    body.config_name = "pasted-config";
  } else {
    body.model = $("model").value;
  }
  if (body.hardware.length === 0) throw new Error("select at least one hardware");
  return body;
}

async function post(url, body) {
  const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!r.ok) {
    let msg = `HTTP ${r.status}`;
    try {
      const j = await r.json();
      msg = typeof j.detail === "string" ? j.detail
        : (j.detail || []).map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("\n");
    } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r;
}

function showError(msg) {
  $("error").textContent = msg;
  $("error").hidden = !msg;
}

async function run() {
  clearTimeout(timer);
  const mine = ++seq;
  let body;
  try { body = request(); } catch (e) { showError(e.message); return; }
  $("go").disabled = true;
  $("status").textContent = "computing…";
  const t0 = performance.now();
  try {
    const view = await (await post("/api/report/view", body)).json();
    if (mine !== seq) return; // a newer request is on its way
    showError("");
    render(view);
    const n = view.data.compare.rows.length;
    $("status").textContent = `${n} hardware compared in ${Math.round(performance.now() - t0)} ms`;
  } catch (e) {
    if (mine === seq) { showError(e.message); $("status").textContent = ""; }
  } finally {
    if (mine === seq) $("go").disabled = false;
  }
}

function render(view) {
  $("title").textContent = view.data.title;
  $("summary").innerHTML = view.summary_html; // server-rendered, every value escaped
  $("table").innerHTML = view.table_html;
  $("table-section").hidden = false;
  for (const name of CHARTS) {
    const div = $(`chart-${name}`);
    const fig = view.figures[name];
    $(`sec-${name}`).hidden = !fig;
    if (fig) Plotly.react(div, fig.data, fig.layout, PLOT_CONFIG);
    else Plotly.purge(div);
  }
}

async function download(ev) {
  ev.preventDefault();
  let body;
  try { body = request(); } catch (e) { showError(e.message); return; }
  const a = $("download");
  const label = a.textContent;
  a.textContent = "preparing report…";
  try {
    const r = await post("/api/report", body);
    const blob = await r.blob();
    const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "");
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name ? name[1] : "inferplan-report.html";
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  } catch (e) {
    showError(e.message);
  } finally {
    a.textContent = label;
  }
}

init().catch((e) => showError(`could not load the catalog: ${e.message}`));
