// inception-bench dashboard: draws the plots, applies the filter bar to every plot and table,
// sorts tables, searches the runs table and expands a run's full record. Data: #report-data.
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("report-data").textContent);
  let DETAIL = null;  // every field of every record: parsed when a runs-table row is first expanded
  const FILTERS = Object.keys(DATA.filters);
  const N = DATA.hover.length;
  const ARRAYS = ["x", "y", "customdata", "text", "hovertext"];  // per-point arrays a filter shortens
  const CONFIG = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ["sendDataToCloud"]};

  // plotly reads trace text as markup; record fields are shown as typed
  const escapeMarkup = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const hover = DATA.hover.map(escapeMarkup);

  function passes() {  // per record: does it pass every filter?
    const chosen = FILTERS.map((f) => [f, document.querySelector(`select[data-filter="${f}"]`).value]);
    const ok = new Array(N).fill(true);
    for (const [f, v] of chosen) {
      if (v === "") continue;
      const codes = DATA.filters[f].codes, want = Number(v);
      for (let i = 0; i < N; i++) if (codes[i] !== want) ok[i] = false;
    }
    return ok;
  }

  function filtered(trace, ok) {  // the trace with only the points of passing records
    if (!Array.isArray(trace.customdata)) return trace;  // a reference (paper, peak): always shown
    // null ids are the gaps between two lines: kept, so two sweeps never join
    const keep = trace.customdata.map((r, k) => (r === null || ok[r] ? k : -1)).filter((k) => k >= 0);
    const out = Object.assign({}, trace);
    for (const key of ARRAYS) if (Array.isArray(trace[key])) out[key] = keep.map((k) => trace[key][k]);
    if (trace.error_y && Array.isArray(trace.error_y.array)) {
      out.error_y = Object.assign({}, trace.error_y, {array: keep.map((k) => trace.error_y.array[k])});
    }
    return out;
  }

  const plots = DATA.plots.map((spec) => {
    spec.data.forEach((t) => {
      if (Array.isArray(t.customdata) && t.type !== "histogram") {
        t.hovertext = t.customdata.map((r) => (r === null ? null : hover[r]));
      }
    });
    return spec;
  });

  // A plot is drawn when it comes near the screen (a 2,000-record page opens fast), and redrawn on a
  // filter change once drawn; legend toggles survive a redraw.
  let current = new Array(N).fill(true);
  const drawn = new Set();
  const byId = Object.fromEntries(plots.map((spec) => [spec.id, spec]));

  function render(spec) {
    const el = document.getElementById(spec.id);
    const data = spec.data.map((t, i) => {
      const shown = filtered(t, current);
      const live = el.data && el.data[i];
      if (live && live.visible !== undefined) shown.visible = live.visible;
      return shown;
    });
    Plotly.react(el, data, spec.layout, CONFIG);
    drawn.add(spec.id);
  }

  const observer = new IntersectionObserver((entries) => {
    for (const e of entries) {
      if (!e.isIntersecting) continue;
      observer.unobserve(e.target);
      render(byId[e.target.id]);
    }
  }, {rootMargin: "100px"});

  function drawAll() {  // e.g. before printing or a full-page screenshot: every plot and table laid out
    document.body.classList.add("all-shown");
    for (const spec of plots) if (!drawn.has(spec.id)) { observer.unobserve(document.getElementById(spec.id)); render(spec); }
  }

  function filterTables(ok) {
    const query = (document.getElementById("runs-search") || {value: ""}).value.toLowerCase();
    document.querySelectorAll("table.data tbody tr[data-r]").forEach((tr) => {
      const ids = tr.dataset.r.trim();
      let show = ids === "" || ids.split(" ").some((r) => ok[Number(r)]);
      if (show && query && tr.closest("#runs")) show = tr.textContent.toLowerCase().includes(query);
      tr.hidden = !show;
      const next = tr.nextElementSibling;
      if (next && next.classList.contains("detail")) next.hidden = !show;
    });
  }

  function apply() {
    const ok = passes();
    current = ok;
    for (const id of drawn) render(byId[id]);
    filterTables(ok);
    document.getElementById("shown").textContent = `${ok.filter(Boolean).length} of ${N} records`;
  }

  function sortBy(th) {
    const table = th.closest("table"), body = table.tBodies[0];
    const col = Array.from(th.parentNode.children).indexOf(th);
    const dir = th.dataset.dir === "asc" ? "desc" : "asc";
    table.querySelectorAll("th").forEach((h) => delete h.dataset.dir);
    th.dataset.dir = dir;
    const rows = Array.from(body.rows).filter((tr) => !tr.classList.contains("detail"));
    const key = (tr) => tr.cells[col].textContent;
    const num = rows.every((tr) => key(tr) === "" || !isNaN(Number(key(tr))));
    rows.sort((a, b) => {
      const x = key(a), y = key(b);
      if (x === "" || y === "") return (x === "") - (y === "");  // blanks last either way
      const c = num ? Number(x) - Number(y) : x.localeCompare(y);
      return dir === "asc" ? c : -c;
    });
    for (const tr of rows) {
      const detail = tr.nextElementSibling && tr.nextElementSibling.classList.contains("detail") ? tr.nextElementSibling : null;
      body.appendChild(tr);
      if (detail) body.appendChild(detail);
    }
  }

  function toggleDetail(tr) {
    const next = tr.nextElementSibling;
    if (next && next.classList.contains("detail")) { next.remove(); return; }
    if (!DETAIL) DETAIL = JSON.parse(document.getElementById("report-detail").textContent);  // on first use
    const row = DETAIL.rows[Number(tr.dataset.r)], detail = document.createElement("tr");
    detail.className = "detail";
    const cell = detail.insertCell();
    cell.colSpan = tr.cells.length;
    const list = document.createElement("dl");
    DETAIL.keys.forEach((k, i) => {
      if (row[i] === "") return;
      const dt = document.createElement("dt"), dd = document.createElement("dd");
      dt.textContent = k;
      dd.textContent = row[i];
      list.append(dt, dd);
    });
    cell.appendChild(list);
    tr.after(detail);
  }

  document.querySelectorAll("table.data th").forEach((th) => th.addEventListener("click", () => sortBy(th)));
  const runs = document.getElementById("runs");
  if (runs) runs.tBodies[0].addEventListener("click", (e) => {
    const tr = e.target.closest("tr");
    if (tr && !tr.classList.contains("detail")) toggleDetail(tr);
  });
  document.querySelectorAll("select[data-filter]").forEach((s) => s.addEventListener("change", apply));
  const search = document.getElementById("runs-search");
  if (search) search.addEventListener("input", () => filterTables(passes()));
  document.getElementById("reset").addEventListener("click", () => {
    document.querySelectorAll("select[data-filter]").forEach((s) => { s.value = ""; });
    if (search) search.value = "";
    apply();
  });
  for (const spec of plots) observer.observe(document.getElementById(spec.id));
  window.addEventListener("beforeprint", drawAll);
  window.dashboard = {apply, drawAll, drawn};  // for a console (and the browser test): the page's state
})();
