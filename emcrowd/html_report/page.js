// The emcrowd report page: reads the data from <script id="emcrowd-data"> and draws every section.
// Every value from the data reaches the page as text (textContent, text nodes, setAttribute on
// SVG geometry), never as markup. A kind of task adds its view to KINDS (the "kind" key of the data).
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("emcrowd-data").textContent);
  const META = DATA.meta;
  const CLASSES = META.classes || [];
  const SVGNS = "http://www.w3.org/2000/svg";
  const PAGE_SIZE = 50;

  // --- small helpers ---------------------------------------------------------------------------
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);  // strings become text
    return e;
  }
  function sv(tag, attrs, text) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v, digits) {
    if (v === null || v === undefined || (typeof v === "number" && !isFinite(v))) return "—";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v === "number") {
      if (Number.isInteger(v) && digits === undefined) return v.toLocaleString("en-US");
      return v.toFixed(digits === undefined ? 3 : digits);
    }
    return String(v);
  }
  const pct = (v) => (v === null || v === undefined ? "—" : (100 * v).toFixed(1) + "%");
  const title = (m) => ({majority: "Majority vote", glad: "GLAD", dawid_skene: "Dawid-Skene",
    one_coin: "One-coin", mace: "MACE", bayesian_ds: "Bayesian DS", ebcc: "EBCC", auto: "auto",
    ordinal_ds: "Ordinal DS", per_class_ds: "Per-class Dawid-Skene", mean: "Mean", median: "Median",
    bias_noise: "Bias-and-noise", robust: "Robust bias-and-noise", crowd_machine: "Crowd + machine"}[m] || m);
  function body(id) { return document.querySelector("#" + id + " > .body"); }
  function figure(id, caption, ...content) {
    return el("figure", {id: id}, ...content, el("figcaption", {text: caption}));
  }
  function heatColour(share) {  // white to blue
    const s = Math.max(0, Math.min(1, share || 0));
    const r = Math.round(255 - s * (255 - 33)), g = Math.round(255 - s * (255 - 102)), b = Math.round(255 - s * (255 - 172));
    return "rgb(" + r + "," + g + "," + b + ")";
  }
  function simpleTable(head, rows, cls) {
    const t = el("table", {class: cls || ""});
    t.append(el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {text: h[0], class: h[1] || ""})))));
    const tb = el("tbody");
    for (const r of rows) tb.append(el("tr", {}, ...r.map((c, j) =>
      c instanceof Node ? el("td", {class: head[j][1] || ""}, c) : el("td", {class: head[j][1] || "", text: c}))));
    t.append(tb);
    return el("div", {class: "table-wrap"}, t);
  }

  // --- columns of an encoded table ---------------------------------------------------------------
  function column(table, name) { return table.columns.find((c) => c.name === name); }
  function getter(c) {
    if (!c) return () => null;
    if (c.codes) return (i) => c.names[c.codes[i]];
    if (c.ints) return (i) => (c.ints[i] === null ? null : c.ints[i] / c.scale);
    return (i) => c.values[i];
  }

  // --- a sortable, filterable, paged table over an encoded table ---------------------------------
  function dataTable(opts) {
    // opts: id, n, columns [{key, title, type, get, id}], filter() -> predicate or null, onRow(i)
    const cols = opts.columns;
    const table = el("table", {class: "data", id: opts.id});
    const headRow = el("tr");
    let sortKey = null, sortDir = 1, order = [], page = 0, selected = -1;
    cols.forEach((c) => {
      const th = el("th", {text: c.title, class: c.type === "num" ? "num" : "", "data-key": c.key,
        title: "sort by " + c.title});
      th.addEventListener("click", () => {
        sortDir = sortKey === c.key ? -sortDir : (c.type === "num" ? -1 : 1);
        sortKey = c.key;
        for (const h of headRow.children) h.removeAttribute("aria-sort");
        th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
        refresh();
      });
      headRow.append(th);
    });
    const tbody = el("tbody");
    table.append(el("thead", {}, headRow), tbody);
    const info = el("span", {id: opts.id + "-count"});
    const prev = el("button", {text: "‹ previous", onclick: () => { page--; draw(); }});
    const next = el("button", {text: "next ›", onclick: () => { page++; draw(); }});
    const pager = el("div", {class: "pager"}, prev, info, next);
    function refresh() {
      const keep = opts.filter ? opts.filter() : null;
      order = [];
      for (let i = 0; i < opts.n; i++) if (!keep || keep(i)) order.push(i);
      if (sortKey !== null) {
        const c = cols.find((x) => x.key === sortKey);
        const vals = new Map();
        for (const i of order) vals.set(i, c.get(i));
        order.sort((a, b) => {
          const x = vals.get(a), y = vals.get(b);
          const xn = x === null || x === undefined || x === "", yn = y === null || y === undefined || y === "";
          if (xn || yn) return xn === yn ? a - b : (xn ? 1 : -1);  // missing last either way
          if (x < y) return -sortDir;
          if (x > y) return sortDir;
          return a - b;
        });
      }
      page = 0;
      draw();
    }
    function draw() {
      const pages = Math.max(1, Math.ceil(order.length / PAGE_SIZE));
      page = Math.max(0, Math.min(page, pages - 1));
      const start = page * PAGE_SIZE, stop = Math.min(order.length, start + PAGE_SIZE);
      const rows = [];
      for (let r = start; r < stop; r++) {
        const i = order[r];
        const tr = el("tr", {"data-row": i, class: (i === selected ? "selected" : "") + (opts.rowClass ? opts.rowClass(i) : "")});
        for (const c of cols) {
          const v = c.get(i);
          const td = el("td", {class: (c.type === "num" ? "num" : "") + (c.isId ? " id" : ""),
            text: c.format ? c.format(v, i) : fmt(v)});
          tr.append(td);
        }
        tr.addEventListener("click", () => { select(i); if (opts.onRow) opts.onRow(i); });
        rows.push(tr);
      }
      tbody.replaceChildren(...rows);
      info.textContent = order.length
        ? "rows " + (start + 1).toLocaleString("en-US") + "–" + stop.toLocaleString("en-US") + " of " +
          order.length.toLocaleString("en-US") + (order.length < opts.n ? " (filtered from " +
          opts.n.toLocaleString("en-US") + ")" : "")
        : "no rows match";
      prev.disabled = page === 0;
      next.disabled = page >= pages - 1;
    }
    function select(i) {
      selected = i;
      for (const tr of tbody.children) tr.classList.toggle("selected", Number(tr.dataset.row) === i);
    }
    return {element: el("div", {}, pager, el("div", {class: "table-wrap"}, table)), refresh, select,
      rows: () => order.slice()};
  }

  // The columns of an encoded table, in its order; `special` overrides a column's title or format.
  function tableColumns(table, special) {
    return table.columns.map((c) => {
      const s = (special || {})[c.name] || {};
      return {key: c.name, title: s.title || c.name.replace(/_/g, " "), type: c.type === "num" ? "num" : "str",
        get: getter(c), format: s.format || (c.type === "bool" ? (v) => (v ? "yes" : "no") : null),
        isId: s.isId || false};
    });
  }

  // --- SVG plots ---------------------------------------------------------------------------------
  function niceTicks(lo, hi, n) {
    if (!(hi > lo)) return [lo];
    const raw = (hi - lo) / (n || 5), mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(10));
    return out;
  }
  function plot(o) {
    // o: {w, h, x: [lo, hi], y: [lo, hi], xlog, xlabel, ylabel, title, yticks, xticks}
    const w = o.w || 640, h = o.h || 300, m = {l: 56, r: 14, t: o.title ? 26 : 10, b: 42};
    const svg = sv("svg", {class: "plot", viewBox: "0 0 " + w + " " + h, role: "img"});
    const tx = o.xlog ? (v) => Math.log10(v) : (v) => v;
    const x0 = tx(o.x[0]), x1 = tx(o.x[1]);
    const sx = (v) => m.l + ((tx(v) - x0) / (x1 - x0 || 1)) * (w - m.l - m.r);
    const sy = (v) => h - m.b - ((v - o.y[0]) / (o.y[1] - o.y[0] || 1)) * (h - m.t - m.b);
    const g = sv("g");
    svg.append(g);
    const yt = o.yticks || niceTicks(o.y[0], o.y[1], 5);
    for (const v of yt) {
      g.append(sv("line", {class: "gridline", x1: m.l, x2: w - m.r, y1: sy(v), y2: sy(v)}));
      g.append(sv("text", {x: m.l - 6, y: sy(v) + 4, "text-anchor": "end"}, o.yfmt ? o.yfmt(v) : fmt(v, o.ydigits)));
    }
    let xt = o.xticks;
    if (!xt) {
      if (o.xlog) {
        xt = [];
        for (let p = Math.floor(x0); p <= Math.ceil(x1); p++) if (p >= x0 - 1e-9 && p <= x1 + 1e-9) xt.push(Math.pow(10, p));
      } else xt = niceTicks(o.x[0], o.x[1], 6);
    }
    for (const v of xt) {
      g.append(sv("line", {class: "axis", x1: sx(v), x2: sx(v), y1: h - m.b, y2: h - m.b + 4}));
      g.append(sv("text", {x: sx(v), y: h - m.b + 16, "text-anchor": "middle"}, o.xfmt ? o.xfmt(v) : fmt(v, o.xdigits)));
    }
    g.append(sv("line", {class: "axis", x1: m.l, x2: w - m.r, y1: h - m.b, y2: h - m.b}));
    g.append(sv("line", {class: "axis", x1: m.l, x2: m.l, y1: m.t, y2: h - m.b}));
    if (o.xlabel) g.append(sv("text", {x: (m.l + w - m.r) / 2, y: h - 6, "text-anchor": "middle"}, o.xlabel));
    if (o.ylabel) g.append(sv("text", {x: 12, y: (m.t + h - m.b) / 2, "text-anchor": "middle",
      transform: "rotate(-90 12 " + (m.t + h - m.b) / 2 + ")"}, o.ylabel));
    if (o.title) g.append(sv("text", {x: m.l, y: 16, "font-weight": "600"}, o.title));
    return {svg, sx, sy, w, h, m};
  }

  // --- overview ----------------------------------------------------------------------------------
  function overview() {
    const b = body("overview");
    const H = DATA.headline;
    const method = META.method === "auto" && META.fitted_method !== "auto"
      ? META.title + " (chosen by auto)" : META.title;
    const facts = el("dl", {class: "facts", id: "facts"});
    const add = (k, v, id) => { facts.append(el("dt", {text: k}), el("dd", {text: v, id: id})); };
    add("method", method, "fact-method");
    if (META.reason) add("why", META.title + ": " + META.reason, "fact-reason");
    add("labels file", META.source || "—", "fact-source");
    add("output directory", META.output, "fact-output");
    add("fitted (summary written)", META.written + " by emcrowd " + fmt(META.version), "fact-written");
    const what = {ordinal: " grades, lowest first: ", multilabel: " classes, any number per answer: "}[DATA.kind] || " classes: ";
    add("task", DATA.kind + (CLASSES.length ? ", " + CLASSES.length + what + CLASSES.join(", ") : ""),
      "fact-classes");
    b.append(facts);
    const cards = el("div", {class: "cards", id: "headline"});
    const card = (k, v, id) => cards.append(el("div", {class: "card"}, el("div", {class: "v", text: v, id: id}),
      el("div", {class: "k", text: k})));
    card("items", fmt(H.n_items), "n-items");
    card("annotators", fmt(H.n_workers), "n-workers");
    card("labels", fmt(H.n_labels), "n-labels");
    if (H.mean_confidence !== null) card("mean confidence", fmt(H.mean_confidence), "mean-confidence");
    if (H.n_uncertain !== null) card("items below 0.9 confidence", fmt(H.n_uncertain), "n-uncertain");
    if (H.n_differ !== null && H.n_differ !== undefined) card("answers differing from the vote", fmt(H.n_differ), "n-differ");
    if (H.n_flagged !== null) card("annotators flagged", fmt(H.n_flagged), "n-flagged");
    if (H.n_gold) card("gold items clamped", fmt(H.n_gold), "n-gold");
    if (DATA.compare) {
      const fitted = DATA.compare.methods[META.fitted_method] || DATA.compare.methods[META.method] ||
        (DATA.machines ? DATA.compare.methods["crowd + machine"] : null);  // compare --predictions: the fit's row
      if (fitted && DATA.compare.kind === "numeric") card("MAE on " + fmt(DATA.compare.n_gold) + " items with a true value", fmt(fitted.mae), "gold-mae");
      else if (fitted && DATA.compare.kind === "multilabel") card("micro-F1 on " + fmt(DATA.compare.n_gold) + " gold sets", fmt(fitted.micro_f1), "gold-f1");
      else if (fitted) card("accuracy on " + fmt(DATA.compare.n_gold) + " gold items", fmt(fitted.accuracy), "gold-accuracy");
    }
    b.append(cards);
    if (META.warnings && META.warnings.length) {
      b.append(el("p", {class: "warn", text: "Warnings of the fit: " + META.warnings.join(" · ")}));
    }
  }

  // --- per class (classification) ----------------------------------------------------------------
  function classesSection(K, target) {
    const b = body(target || "classes");
    const rows = K.classes;
    const gold = goldRecall();
    const head = [["class"], ["estimated prevalence", "num"], ["items labelled", "num"], ["share of items", "num"],
      ["crowd accuracy", "num"], ["mean confidence", "num"]];
    if (gold) head.push(["accuracy on gold (" + title(gold.method) + ")", "num"]);
    b.append(el("h3", {text: "Each class"}),
      el("p", {class: "note", text: "Crowd accuracy: the share of the labels on items given this class that say " +
        "this class. Estimated prevalence: the class prior the method learned."}),
      simpleTable(head, rows.map((r, c) => {
        const row = [r.class, fmt(r.prevalence), fmt(r.n_items), pct(r.share_items), fmt(r.crowd_accuracy),
          fmt(r.mean_confidence)];
        if (gold) row.push(fmt(gold.recall[c]));
        return row;
      }), "per-class"));
    // class distribution: share of items per class and the estimated prevalence
    const n = rows.length, barH = 22, h = 50 + n * barH;
    const hi = Math.max(0.05, ...rows.map((r) => Math.max(r.share_items || 0, r.prevalence || 0)));
    const p = plot({w: 640, h: h, x: [0, Math.min(1, hi * 1.1)], y: [0, n], yticks: [], xlabel: "share",
      xfmt: (v) => Math.round(v * 100) + "%"});
    rows.forEach((r, i) => {
      const y = p.sy(n - i) + 3;
      p.svg.append(sv("rect", {x: p.sx(0), y: y, width: Math.max(1, p.sx(r.share_items) - p.sx(0)),
        height: barH - 8, fill: "#0969da"}));
      if (r.prevalence !== null) p.svg.append(sv("rect", {x: p.sx(r.prevalence) - 1.5, y: y - 2, width: 3,
        height: barH - 4, fill: "#cf222e"}));
      p.svg.append(sv("text", {x: p.m.l - 6, y: y + barH / 2, "text-anchor": "end"}, r.class.length > 9 ? r.class.slice(0, 8) + "…" : r.class));
    });
    const dist = figure("fig-class-distribution",
      "Share of items given each class (blue bars) and the estimated prevalence (red marks).", p.svg);
    // crowd confusion heat map: counts and row shares
    const M = K.crowd_confusion;
    const heat = el("table", {class: "heat", id: "crowd-confusion"});
    heat.append(el("thead", {}, el("tr", {}, el("th", {class: "corner", text: "chosen ↓ / said →"}),
      ...CLASSES.map((c) => el("th", {text: c})))));
    const tb = el("tbody");
    M.forEach((row, t) => {
      const total = row.reduce((a, x) => a + x, 0);
      tb.append(el("tr", {}, el("th", {text: CLASSES[t]}), ...row.map((v) => {
        const share = total ? v / total : 0;
        return el("td", {style: "background:" + heatColour(share) + ";color:" + (share > 0.55 ? "#fff" : "#1f2328"),
          title: v + " labels (" + pct(share) + " of the row)"}, String(v), el("span", {class: "share", text: total ? pct(share) : ""}));
      })));
    });
    heat.append(tb);
    const conf = figure("fig-crowd-confusion", "The crowd's confusion: labels said (columns) on items given each " +
      "class (rows), as counts and shares of the row.", el("div", {class: "table-wrap"}, heat));
    b.append(el("div", {class: "grid2"}, conf, dist));
    b.append(el("h3", {text: "Most confused pairs"}));
    if (K.confused_pairs.length) {
      b.append(simpleTable([["chosen class"], ["said instead"], ["labels", "num"], ["share of the class's labels", "num"]],
        K.confused_pairs.map((p) => [p.true, p.said, fmt(p.count), pct(p.share)]), "pairs"));
    } else b.append(el("p", {class: "note", text: "No label disagrees with its item's chosen class."}));
  }

  function goldRecall() {  // per class accuracy on the gold items of the fitted method, from compare
    if (!DATA.compare) return null;
    const name = DATA.compare.methods[META.fitted_method] ? META.fitted_method : META.method;
    const entry = DATA.compare.methods[name];
    if (!entry || !Array.isArray(entry.confusion)) return null;
    return {method: name, recall: entry.confusion.map((row, c) => {
      const total = row.reduce((a, x) => a + x, 0);
      return total ? row[c] / total : null;
    })};
  }

  // --- confidence histogram ----------------------------------------------------------------------
  function confidenceFigure() {
    const hist = DATA.confidence_histogram;
    const top = Math.max(1, ...hist.counts);
    const p = plot({w: 640, h: 240, x: [hist.edges[0], 1], y: [0, top * 1.05], xlabel: "confidence of the chosen label",
      ylabel: "items", ydigits: 0});
    hist.counts.forEach((c, i) => {
      const x = p.sx(hist.edges[i]), x2 = p.sx(hist.edges[i + 1]);
      p.svg.append(sv("rect", {x: x + 0.5, y: p.sy(c), width: Math.max(0.5, x2 - x - 1), height: p.sy(0) - p.sy(c), fill: "#2da44e"},
      ));
    });
    return figure("fig-confidence", "How confident the chosen labels are (every item, " + fmt(DATA.headline.n_items) + ").", p.svg);
  }

  // --- items ---------------------------------------------------------------------------------------
  let openAnnotator = () => {};
  let kindItem = null;  // a kind's own item detail (who ticked what, ...): i -> nodes
  function itemsSection() {
    const b = body("items");
    const T = DATA.items, N = DATA.items_note;
    if (N.shown < N.total) {
      b.append(el("p", {class: "warn", id: "items-sampled", text: "This page holds " + fmt(N.shown) + " of the " +
        fmt(N.total) + " items: the " + fmt(N.least) + " least certain, and a random sample of the rest. " +
        "items.csv has every item; the figures count them all."}));
    }
    if (DATA.confidence_histogram) b.append(confidenceFigure());
    const get = {};
    for (const c of T.columns) get[c.name] = getter(c);
    const unquote = (v) => (v === null ? "" : String(v).replace(/%3B/g, ";").replace(/%3A/g, ":").replace(/%25/g, "%"));
    const cols = tableColumns(T, {item: {isId: true}, votes: {format: unquote}});
    // controls: search by id, class, confidence range, agreement range, disagreement with the vote, gold
    const search = el("input", {type: "search", id: "items-search", placeholder: "item id contains…"});
    const controls = el("div", {class: "controls"}, el("label", {}, "id ", search));
    const cls = el("select", {id: "items-class"}, el("option", {value: "", text: "any class"}),
      ...CLASSES.map((c) => el("option", {value: c, text: c})));
    const setHolds = DATA.kind === "multilabel" && get.classes ? (i, c) => JSON.parse(get.classes(i) || "[]").includes(c) : null;
    if ((get.label || setHolds) && CLASSES.length) controls.append(el("label", {}, setHolds ? "set holds " : "label ", cls));
    const range = (name, key) => {
      const lo = el("input", {type: "number", step: "0.05", min: "0", max: "1", id: "items-" + key + "-min"});
      const hi = el("input", {type: "number", step: "0.05", min: "0", max: "1", id: "items-" + key + "-max"});
      controls.append(el("label", {}, name + " from ", lo, " to ", hi));
      return [lo, hi];
    };
    const confRange = get.confidence ? range("confidence", "confidence") : null;
    const agreeRange = get.agreement ? range("agreement", "agreement") : null;
    const differ = el("input", {type: "checkbox", id: "items-differ"});
    if (get.majority && get.label) controls.append(el("label", {}, differ, " label differs from the majority vote"));
    const goldSel = el("select", {id: "items-gold"}, el("option", {value: "", text: "any"}),
      el("option", {value: "known", text: "gold known"}), el("option", {value: "wrong", text: "label ≠ gold"}));
    if (get.gold) controls.append(el("label", {}, "gold ", goldSel));
    b.append(controls);
    const num = (input) => (input.value === "" ? null : Number(input.value));
    function filter() {
      const q = search.value.trim().toLowerCase(), c = cls.value;
      const [clo, chi] = confRange ? confRange.map(num) : [null, null];
      const [alo, ahi] = agreeRange ? agreeRange.map(num) : [null, null];
      const d = differ.checked, g = goldSel.value;
      if (!q && !c && clo === null && chi === null && alo === null && ahi === null && !d && !g) return null;
      return (i) => {
        if (q && !String(get.item(i)).toLowerCase().includes(q)) return false;
        if (c && (setHolds ? !setHolds(i, c) : get.label(i) !== c)) return false;
        if (clo !== null || chi !== null) {
          const v = get.confidence(i);
          if (v === null || (clo !== null && v < clo) || (chi !== null && v > chi)) return false;
        }
        if (alo !== null || ahi !== null) {
          const v = get.agreement(i);
          if (v === null || (alo !== null && v < alo) || (ahi !== null && v > ahi)) return false;
        }
        if (d && get.label(i) === get.majority(i)) return false;
        if (g === "known" && !get.gold(i)) return false;
        if (g === "wrong" && (!get.gold(i) || get.gold(i) === get.label(i))) return false;
        return true;
      };
    }
    const detail = el("div", {class: "detail", id: "item-detail", hidden: ""});
    const table = dataTable({id: "items-table", n: T.n, columns: cols, filter: filter, onRow: (i) => showItem(i)});
    for (const input of controls.querySelectorAll("input, select")) {
      input.addEventListener(input.type === "search" || input.type === "number" ? "input" : "change", () => table.refresh());
    }
    b.append(el("p", {class: "note", text: "Click a column to sort, a row to see who said what."}), table.element, detail);
    table.refresh();

    function showItem(i) {
      detail.hidden = false;
      const facts = el("dl", {class: "facts"});
      for (const c of cols) {
        facts.append(el("dt", {text: c.title}), el("dd", {text: c.format ? c.format(c.get(i)) : fmt(c.get(i))}));
      }
      const parts = [el("h3", {text: "Item " + get.item(i), id: "item-detail-title"}), facts];
      const L = DATA.labels;
      if (kindItem) parts.push(...kindItem(i));
      else if (L) {
        const W = DATA.workers, wname = getter(column(W, "worker")), wacc = getter(column(W, "accuracy"));
        const rows = [];
        for (let o = L.offsets[i]; o < L.offsets[i + 1]; o++) {
          const w = Math.floor(L.packed[o] / L.n_classes) - 1, said = CLASSES[L.packed[o] % L.n_classes];
          const who = w >= 0 ? el("button", {class: "link", text: wname(w), onclick: () => openAnnotator(w)}) : "(not held)";
          const agrees = get.label && said === get.label(i);
          rows.push([who, said, el("span", {class: agrees ? "ok" : "no", text: agrees ? "yes" : "no"}),
            w >= 0 ? fmt(wacc(w)) : "—"]);
        }
        parts.push(el("h3", {text: "Who said what"}),
          simpleTable([["annotator"], ["said"], ["agrees with the label"], ["annotator's accuracy", "num"]], rows, "who-said-what"));
      } else {
        parts.push(el("p", {class: "note", id: "who-note", text: "Who said what is not shown: " + (DATA.labels_note || "no labels file")}));
      }
      if (DATA.machines) parts.push(...machineAnswers(i, get));
      detail.replaceChildren(el("button", {text: "close", onclick: () => { detail.hidden = true; }}), ...parts);
      detail.scrollIntoView({block: "nearest"});
    }
  }

  // --- annotators ----------------------------------------------------------------------------------
  function annotatorsSection() {
    const b = body("annotators");
    const W = DATA.workers, N = DATA.workers_note;
    if (N.shown < N.total) {
      b.append(el("p", {class: "warn", text: "This page holds the " + fmt(N.shown) + " annotators with the most labels, of " + fmt(N.total) + "."}));
    }
    const get = {};
    for (const c of W.columns) get[c.name] = getter(c);
    // accuracy against labels given (log scale), flagged in red; a click opens the annotator
    const review = ["spammer", "constant", "below_chance"];
    if (!get.flags) get.flags = () => "";
    const flagged = (i) => String(get.flags(i) || "").split(";").some((f) => review.includes(f));
    const isMachine = (i) => Boolean(get.kind) && get.kind(i) === "machine";
    if (get.accuracy && get.n_labels) accuracyFigure();
    function accuracyFigure() {
    const nl = [];
    for (let i = 0; i < W.n; i++) nl.push(Math.max(1, get.n_labels(i) || 1));
    let minN = Infinity, maxN = 10;
    for (const v of nl) { if (v < minN) minN = v; if (v > maxN) maxN = v; }
    const xmin = Math.pow(10, Math.floor(Math.log10(Math.min(minN, maxN / 10))));
    const xmax = Math.pow(10, Math.ceil(Math.log10(maxN)));
    const p = plot({w: 640, h: 300, x: [xmin, xmax], xlog: true, y: [0, 1],
      xlabel: "labels given (log scale)", ylabel: "estimated accuracy", xfmt: (v) => v.toLocaleString("en-US")});
    if (CLASSES.length > 1) {
      p.svg.append(sv("line", {x1: p.sx(xmin), x2: p.sx(xmax), y1: p.sy(1 / CLASSES.length),
        y2: p.sy(1 / CLASSES.length), stroke: "#8c959f", "stroke-dasharray": "4 3"}));
    }
    for (let i = 0; i < W.n; i++) {
      const a = get.accuracy(i);
      if (a === null) continue;
      const bad = flagged(i);
      const dot = isMachine(i)
        ? sv("rect", {x: p.sx(nl[i]) - 5, y: p.sy(a) - 5, width: 10, height: 10, fill: "#bc4c00", class: "machine-point",
          style: "cursor:pointer"})
        : sv("circle", {cx: p.sx(nl[i]), cy: p.sy(a), r: bad ? 4 : 3, fill: bad ? "#cf222e" : "#0969da",
          "fill-opacity": bad ? 0.9 : 0.55, style: "cursor:pointer"});
      if (isMachine(i)) p.svg.append(sv("text", {x: p.sx(nl[i]) - 8, y: p.sy(a) + 4, "text-anchor": "end", fill: "#bc4c00"}, get.worker(i)));
      dot.append(sv("title", {}, get.worker(i) + (isMachine(i) ? " (machine)" : "") + ": accuracy " + fmt(a) + ", " +
        fmt(get.n_labels(i)) + " labels"));
      dot.addEventListener("click", () => show(i));
      p.svg.append(dot);
    }
    b.append(figure("fig-accuracy-vs-labels", "Each annotator's estimated accuracy against its number of labels; " +
      "flagged annotators (spammer, constant, below chance) in red; " + (W.columns.some((c) => c.name === "kind") ?
      "machines as orange squares (their labels: the items they predicted); " : "") + "the dashed line is chance. Click a point to open it.", p.svg));
    }
    const special = {worker: {title: "annotator", isId: true}};
    if (get.kind) special.worker.format = (v, i) => (i !== undefined && isMachine(i) ? v + "  ⚙ machine" : fmt(v));
    const cols = tableColumns(W, special);
    if (get.accuracy_low && get.accuracy_high) {  // the interval as one column after accuracy
      const at = cols.findIndex((c) => c.key === "accuracy_low");
      cols.splice(at, 2, {key: "interval", title: "accuracy interval", type: "str",
        get: (i) => get.accuracy_low(i), format: (v, i) => fmt(get.accuracy_low(i)) + " – " + fmt(get.accuracy_high(i))});
    }
    const search = el("input", {type: "search", id: "annotators-search", placeholder: "annotator id contains…"});
    const flags = new Set();
    for (let i = 0; i < W.n; i++) for (const f of String(get.flags(i) || "").split(";")) if (f) flags.add(f);
    const flagSel = el("select", {id: "annotators-flag"}, el("option", {value: "", text: "any"}),
      el("option", {value: "*", text: "flagged for review"}), ...[...flags].sort().map((f) => el("option", {value: f, text: f})));
    const minLabels = el("input", {type: "number", min: "0", step: "1", id: "annotators-min-labels"});
    const maxAcc = el("input", {type: "number", min: "0", max: "1", step: "0.05", id: "annotators-max-accuracy"});
    const controls = el("div", {class: "controls"}, el("label", {}, "id ", search), el("label", {}, "flags ", flagSel),
      el("label", {}, "at least ", minLabels, " labels"), el("label", {}, "accuracy at most ", maxAcc));
    const kindSel = el("select", {id: "annotators-kind"}, el("option", {value: "", text: "people and machines"}),
      el("option", {value: "human", text: "people"}), el("option", {value: "machine", text: "machines"}));
    if (get.kind) controls.append(el("label", {}, "kind ", kindSel));
    function filter() {
      const q = search.value.trim().toLowerCase(), f = flagSel.value;
      const lo = minLabels.value === "" ? null : Number(minLabels.value);
      const hi = maxAcc.value === "" ? null : Number(maxAcc.value);
      const kind = get.kind ? kindSel.value : "";
      if (!q && !f && lo === null && hi === null && !kind) return null;
      return (i) => {
        if (kind && (kind === "machine") !== isMachine(i)) return false;
        if (q && !String(get.worker(i)).toLowerCase().includes(q)) return false;
        if (f === "*" && !flagged(i)) return false;
        if (f && f !== "*" && !String(get.flags(i) || "").split(";").includes(f)) return false;
        if (lo !== null && get.n_labels && !(get.n_labels(i) >= lo)) return false;
        if (hi !== null && get.accuracy && !(get.accuracy(i) <= hi)) return false;
        return true;
      };
    }
    const detail = el("div", {class: "detail", id: "annotator-detail", hidden: ""});
    const table = dataTable({id: "annotators-table", n: W.n, columns: cols, filter: filter, onRow: (i) => show(i),
      rowClass: (i) => (isMachine(i) ? " machine" : "")});
    for (const input of controls.querySelectorAll("input, select")) {
      input.addEventListener(input.type === "search" || input.type === "number" ? "input" : "change", () => table.refresh());
    }
    b.append(controls, el("p", {class: "note", text: "Click a column to sort, a row to see the annotator's confusion matrix."}),
      table.element, detail);
    table.refresh();

    function show(i) {
      table.select(i);
      detail.hidden = false;
      const facts = el("dl", {class: "facts"});
      for (const c of cols) facts.append(el("dt", {text: c.title}), el("dd", {text: c.format ? c.format(c.get(i), i) : fmt(c.get(i))}));
      const parts = [el("h3", {text: "Annotator " + get.worker(i), id: "annotator-detail-title"}), facts];
      const mach = DATA.machines ? DATA.machines.machines.find((m) => m.worker_row === i) : null;
      if (mach) parts.push(...machineDetail(mach));
      const M = DATA.worker_matrices, k = CLASSES.length;
      const P = M.probability ? M.probability[i] : null, C = M.count ? M.count[i] : null;
      if (P || C) {
        const t = el("table", {class: "heat", id: "annotator-confusion"});
        t.append(el("thead", {}, el("tr", {}, el("th", {class: "corner", text: "chosen ↓ / said →"}),
          ...CLASSES.map((c) => el("th", {text: c})), el("th", {text: "labels"}))));
        const tb = el("tbody");
        for (let r = 0; r < k; r++) {
          const total = C ? C.slice(r * k, r * k + k).reduce((a, x) => a + x, 0) : null;
          const cells = [];
          for (let s = 0; s < k; s++) {
            const prob = P ? P[r * k + s] : null, count = C ? C[r * k + s] : null;
            const shade = prob !== null ? prob : (total ? count / total : 0);
            cells.push(el("td", {style: "background:" + heatColour(shade) + ";color:" + (shade > 0.55 ? "#fff" : "#1f2328"),
              title: (count !== null ? count + " labels" : "") + (prob !== null ? ", P(said | true) = " + fmt(prob) : "")},
              count !== null ? String(count) : fmt(prob), el("span", {class: "share", text: count !== null && prob !== null ? "P " + fmt(prob, 2) : ""})));
          }
          tb.append(el("tr", {}, el("th", {text: CLASSES[r]}), ...cells, el("td", {text: total !== null ? String(total) : "—"})));
        }
        t.append(tb);
        parts.push(el("h3", {text: "Confusion matrix"}), el("p", {class: "note", text: (C ? "Counts: the annotator's labels " +
          "(columns) on items given each class (rows)" : "No counts: " + (DATA.labels_note || "no labels file")) +
          (P ? "; P: the method's estimate of P(said | true)." : ".")}), el("div", {class: "table-wrap"}, t));
      }
      detail.replaceChildren(el("button", {text: "close", onclick: () => { detail.hidden = true; }}), ...parts);
      detail.scrollIntoView({block: "nearest"});
    }
    openAnnotator = show;
  }

  // --- comparison ----------------------------------------------------------------------------------
  function comparisonSection() {
    const C = DATA.compare, b = body("comparison");
    const names = Object.keys(C.methods);
    b.append(el("p", {class: "note", text: "Scored on " + fmt(C.n_gold) + " items with a known truth" +
      (C.truth_file ? " (" + C.truth_file + ")" : "") + ". Accuracy with a 95% bootstrap interval; Brier " +
      "score and log-loss of the posteriors: lower is better."}));
    const metric = (e, k) => (k in e ? fmt(e[k]) : "—");
    const withCi = (e, k) => metric(e, k) + (k in e && Array.isArray(e[k + "_ci"]) ? " (" + fmt(e[k + "_ci"][0]) + "–" + fmt(e[k + "_ci"][1]) + ")" : "");
    const shown = new Set(["accuracy", "macro_f1", "brier", "log_loss", "correct", "total", "n_iter", "fit_seconds",
      "converged", "n_ties", "n_ties_gold", "chosen"]);
    const extra = [];  // any other scalar metric of the report (a kind's own), as more columns
    for (const n of names) for (const [k, v] of Object.entries(C.methods[n])) {
      if (!shown.has(k) && !extra.includes(k) && (typeof v === "number")) extra.push(k);
    }
    const named = {mae: "MAE in grades (95% interval)", within_one: "within one grade"};
    if (extra.includes("mae")) {
      b.append(el("p", {class: "note", id: "ordinal-metrics-note", text: "Ordered grades: MAE is the mean absolute error in grades " +
        "(with its 95% bootstrap interval); within one grade, the share of items at most one grade off."}));
    }
    b.append(simpleTable([["method"], ["accuracy", "num"], ["95% interval", "num"], ["macro-F1", "num"], ["Brier", "num"],
      ["log-loss", "num"], ["calibration error", "num"], ["correct / total", "num"], ["iterations", "num"], ["seconds", "num"],
      ...extra.map((k) => [named[k] || k.replace(/_/g, " "), "num"])],
    names.map((n) => {
      const e = C.methods[n];
      return [title(n) + (e.chosen ? " → " + title(e.chosen) : "") + (n === C.best ? " (best)" : ""), metric(e, "accuracy"),
        e.accuracy_ci ? fmt(e.accuracy_ci[0]) + " – " + fmt(e.accuracy_ci[1]) : "—", metric(e, "macro_f1"),
        metric(e, "brier"), metric(e, "log_loss"), fmt(e.calibration ? e.calibration.ece : null),
        fmt(e.correct) + " / " + fmt(e.total), fmt(e.n_iter), fmt(e.fit_seconds, 2), ...extra.map((k) => withCi(e, k))];
    }), "metrics"));
    const vs = C.vs_majority || {};
    if (Object.keys(vs).length) {
      b.append(el("h3", {text: "Paired gain over majority vote"}), simpleTable([["method"], ["accuracy gain", "num"],
        ["95% interval", "num"], ["interval excludes 0"], ["fixed", "num"], ["broken", "num"]],
      Object.entries(vs).map(([n, g]) => [title(n), fmt(g.accuracy_gain), g.gain_ci ? fmt(g.gain_ci[0]) + " – " + fmt(g.gain_ci[1]) : "—",
        fmt(g.significant), fmt(g.fixed), fmt(g.broken)]), "gains"),
      el("p", {class: "note", text: "Fixed: gold items the method gets right and majority vote wrong; broken: the other way round."}));
    }
    // accuracy per method with its interval
    const lo = Math.min(...names.map((n) => (C.methods[n].accuracy_ci || [C.methods[n].accuracy])[0]).filter((v) => v !== null));
    const hi = Math.max(...names.map((n) => { const e = C.methods[n]; return e.accuracy_ci ? e.accuracy_ci[1] : e.accuracy; }).filter((v) => v !== null));
    const x0 = Math.max(0, Math.floor((lo - 0.03) * 20) / 20), x1 = Math.min(1, Math.ceil((hi + 0.03) * 20) / 20);
    const rowH = 28, p = plot({w: 640, h: 60 + rowH * names.length, x: [x0, x1], y: [0, names.length], yticks: [],
      xlabel: "accuracy on the gold items (95% bootstrap interval)", xdigits: 2});
    p.m.l = 56;
    names.forEach((n, i) => {
      const e = C.methods[n], y = p.sy(names.length - i - 0.5);
      if (e.accuracy_ci && e.accuracy_ci[0] !== null) p.svg.append(sv("line", {x1: p.sx(e.accuracy_ci[0]), x2: p.sx(e.accuracy_ci[1]),
        y1: y, y2: y, stroke: "#0969da", "stroke-width": 2}));
      p.svg.append(sv("circle", {cx: p.sx(e.accuracy), cy: y, r: 5, fill: "#0969da"}));
      p.svg.append(sv("text", {x: p.sx(e.accuracy), y: y - 8, "text-anchor": "middle"}, title(n) + " " + fmt(e.accuracy)));
    });
    b.append(figure("fig-method-accuracy", "Accuracy of each method on the gold items, with its interval.", p.svg));
    // calibration: one small plot per method, bins as points, their counts as bars below
    const multiples = el("div", {class: "small-multiples"});
    for (const n of names) {
      const cal = C.methods[n].calibration;
      if (!cal || !cal.confidence) continue;
      const q = plot({w: 300, h: 300, x: [0, 1], y: [0, 1], xlabel: "mean confidence in the bin", ylabel: "accuracy in the bin",
        title: title(n) + " (ECE " + fmt(cal.ece) + ")", xdigits: 1, ydigits: 1});
      q.svg.append(sv("line", {x1: q.sx(0), y1: q.sy(0), x2: q.sx(1), y2: q.sy(1), stroke: "#8c959f", "stroke-dasharray": "4 3"}));
      const counts = cal.count || [], most = Math.max(1, ...counts);
      const edges = cal.edges || null;
      cal.confidence.forEach((c, i) => {
        const cnt = counts[i] || 0;
        if (edges && cnt) {  // the bin's count as a grey bar along the bottom (its height: share of the largest bin)
          const bh = 40 * cnt / most;
          q.svg.append(sv("rect", {x: q.sx(edges[i]) + 0.5, width: Math.max(0.5, q.sx(edges[i + 1]) - q.sx(edges[i]) - 1),
            y: q.sy(0) - bh, height: bh, fill: "#d0d7de"}));
        }
      });
      const pts = [];
      cal.confidence.forEach((c, i) => {
        const a = cal.accuracy[i];
        if (c === null || a === null) return;
        pts.push(q.sx(c) + "," + q.sy(a));
        q.svg.append(sv("circle", {cx: q.sx(c), cy: q.sy(a), r: 3.5, fill: "#8250df"}));
        q.svg.append(sv("text", {x: q.sx(c), y: q.sy(a) - 7, "text-anchor": "middle", "font-size": "9"}, "n=" + (counts[i] || 0)));
      });
      q.svg.insertBefore(sv("polyline", {points: pts.join(" "), fill: "none", stroke: "#8250df"}), q.svg.querySelector("circle"));
      multiples.append(el("div", {class: "multiple"}, q.svg));
    }
    b.append(figure("fig-calibration", "Calibration per method on the gold items: accuracy against mean confidence in each bin " +
      "(n = the bin's items; grey bars: bin sizes); the dashed diagonal is perfect calibration.", multiples));
    if (C.agreement) {
      const A = C.agreement;
      b.append(el("h3", {text: "Agreement between annotators"}), simpleTable([["statistic"], ["value", "num"]], [
        ["Krippendorff's alpha", fmt(A.krippendorff_alpha)], ["percent agreement", fmt(A.percent_agreement)],
        ["Fleiss' kappa", fmt(A.fleiss_kappa)], ["Gwet's AC1", fmt(A.gwet_ac1)],
        // ordered grades: alpha at the ordinal and interval levels, Cohen's weighted kappa (two annotators)
        ...(A.krippendorff_alpha_ordinal !== undefined ? [["Krippendorff's alpha, ordinal", fmt(A.krippendorff_alpha_ordinal)],
          ["Krippendorff's alpha, interval", fmt(A.krippendorff_alpha_interval)]] : []),
        ...(A.weighted_kappa && A.weighted_kappa.defined ? [["weighted kappa, linear", fmt(A.weighted_kappa.linear)],
          ["weighted kappa, quadratic", fmt(A.weighted_kappa.quadratic)]] : [])], "agreement"));
    }
  }

  // --- fit details (the convergence curve lives here) -----------------------------------------------
  function detailsSection() {
    const b = body("details");
    const d = el("details", {id: "fit-details"}, el("summary", {text: "Convergence, engine and the auto scores"}));
    const H = DATA.headline;
    d.append(el("p", {text: "Converged: " + fmt(H.converged) + " after " + fmt(H.n_iter) + " iterations, " +
      fmt(H.fit_seconds, 2) + " s, engine " + fmt(META.engine) + "."}));
    const hist = DATA.convergence;
    if (hist.length > 1) {
      const lo = Math.min(...hist), hi = Math.max(...hist), pad = (hi - lo) * 0.05 || 1;
      const p = plot({w: 640, h: 220, x: [1, hist.length], y: [lo - pad, hi + pad], xlabel: "iteration", ylabel: "objective",
        yfmt: (v) => v.toPrecision(4)});
      p.svg.append(sv("polyline", {points: hist.map((v, i) => p.sx(i + 1) + "," + p.sy(v)).join(" "), fill: "none", stroke: "#8250df", "stroke-width": 1.5}));
      d.append(figure("fig-convergence", "The objective at every EM iteration (never decreasing).", p.svg));
    }
    if (META.scores) {
      d.append(el("h3", {text: "auto's candidates"}), simpleTable([["method"], ["score (nats per label)", "num"], ["standard error", "num"]],
        Object.entries(META.scores).map(([n, s]) => [title(n), fmt(s && s.score, 4), fmt(s && s.se, 4)]), "auto-scores"));
    }
    b.append(d);
  }

  // --- shared by the kinds' views -------------------------------------------------------------------
  function workerGetters() {
    const W = DATA.workers, get = {};
    for (const c of W.columns) get[c.name] = getter(c);
    return get;
  }
  function isFlagged(get, i) {
    if (get.random) return Boolean(get.random(i));
    if (!get.flags) return false;
    return String(get.flags(i) || "").split(";").some((f) => ["spammer", "constant", "below_chance"].includes(f));
  }
  const trim = (v) => Number(v.toPrecision(4)).toString();  // axis numbers without trailing zeros
  function extent(values, pad) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (v !== null && v !== undefined && isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    if (!(hi >= lo)) return [0, 1];
    if (hi === lo) return [lo - 0.5, hi + 0.5];
    const p = (hi - lo) * (pad === undefined ? 0.05 : pad);
    return [lo - p, hi + p];
  }
  // each annotator as a point (x, y), flagged ones in red, a click opens the annotator
  function annotatorScatter(xs, ys, o) {
    const get = workerGetters(), n = DATA.workers.n;
    const p = plot({w: 640, h: 320, x: o.x, y: o.y, xlabel: o.xlabel, ylabel: o.ylabel, xfmt: trim, yfmt: trim});
    if (o.vline !== undefined) p.svg.append(sv("line", {x1: p.sx(o.vline), x2: p.sx(o.vline), y1: p.sy(o.y[0]), y2: p.sy(o.y[1]),
      stroke: "#8c959f", "stroke-dasharray": "4 3"}));
    let drawn = 0;
    for (let i = 0; i < n; i++) {
      const x = xs[i], y = ys[i];
      if (x === null || y === null || x === undefined || y === undefined || !isFinite(x) || !isFinite(y)) continue;
      const bad = isFlagged(get, i);
      const dot = sv("circle", {cx: p.sx(Math.max(o.x[0], Math.min(o.x[1], x))), cy: p.sy(Math.max(o.y[0], Math.min(o.y[1], y))),
        r: bad ? 4 : 3, fill: bad ? "#cf222e" : "#0969da", "fill-opacity": bad ? 0.9 : 0.6, style: "cursor:pointer", class: "annotator-dot"});
      dot.append(sv("title", {}, get.worker(i) + ": " + o.xname + " " + fmt(x) + ", " + o.yname + " " + fmt(y) + (bad ? " (flagged)" : "")));
      dot.addEventListener("click", () => openAnnotator(i));
      p.svg.append(dot);
      drawn++;
    }
    return {svg: p.svg, drawn: drawn};
  }
  function histogramFigure(id, hist, xlabel, caption, colour) {
    const top = Math.max(1, ...hist.counts), e = hist.edges;
    const p = plot({w: 640, h: 240, x: [e[0], e[e.length - 1]], y: [0, top * 1.05], xlabel: xlabel, ylabel: "items", ydigits: 0,
      xfmt: (v) => Number(v.toPrecision(3)).toString()});
    hist.counts.forEach((c, i) => {
      const x = p.sx(e[i]), x2 = p.sx(e[i + 1]);
      p.svg.append(sv("rect", {x: x + 0.5, y: p.sy(c), width: Math.max(0.5, x2 - x - 1), height: p.sy(0) - p.sy(c), fill: colour || "#2da44e"}));
    });
    return figure(id, caption, p.svg);
  }
  // a square heat map of a K x K matrix of shares (rows: the truth), in the classes' order
  function heatSvg(M, rowTitle, colTitle) {
    const k = CLASSES.length, cell = Math.max(22, Math.min(56, Math.floor(460 / Math.max(1, k))));
    const left = 90, top = 34, w = left + k * cell + 16, h = top + k * cell + 40;
    const svg = sv("svg", {class: "plot", viewBox: "0 0 " + w + " " + h, role: "img"});
    const short = (c) => (c.length > 10 ? c.slice(0, 9) + "…" : c);
    for (let t = 0; t < k; t++) {
      svg.append(sv("text", {x: left - 6, y: top + t * cell + cell / 2 + 4, "text-anchor": "end"}, short(CLASSES[t])));
      svg.append(sv("text", {x: left + t * cell + cell / 2, y: top - 6, "text-anchor": "middle"}, short(CLASSES[t])));
      for (let s = 0; s < k; s++) {
        const v = M[t][s];
        const r = sv("rect", {x: left + s * cell, y: top + t * cell, width: cell - 1, height: cell - 1,
          fill: v === null ? "#f6f8fa" : heatColour(v)});
        r.append(sv("title", {}, rowTitle + " " + CLASSES[t] + ", " + colTitle + " " + CLASSES[s] + ": " + fmt(v)));
        svg.append(r);
        if (cell >= 30 && v !== null) svg.append(sv("text", {x: left + s * cell + cell / 2, y: top + t * cell + cell / 2 + 4,
          "text-anchor": "middle", fill: v > 0.55 ? "#fff" : "#1f2328"}, v.toFixed(2)));
      }
    }
    svg.append(sv("text", {x: left + (k * cell) / 2, y: h - 10, "text-anchor": "middle"}, colTitle + " →"));
    svg.append(sv("text", {x: 12, y: top + (k * cell) / 2, "text-anchor": "middle",
      transform: "rotate(-90 12 " + (top + (k * cell) / 2) + ")"}, rowTitle + " ↓"));
    return svg;
  }

  // --- ordered grades ---------------------------------------------------------------------------------
  function ordinalSection() {
    const O = DATA.ordinal, id = "kind-ordinal";
    classesSection(DATA.classification, id);
    const b = body(id);
    b.insertBefore(el("p", {class: "note", text: "The classes are ordered grades, lowest first: every table and figure " +
      "lists them in that order."}), b.firstChild);
    b.append(el("h3", {text: "Confusion over the grades and each annotator's bias"}));
    const heat = figure("fig-grade-confusion", O.confusion_source === "model"
      ? "The method's P(grade said | true grade), averaged over the annotators (weighted by their labels), grades in order: " +
        "mass off the diagonal is error, and its side is the direction of the bias."
      : "The crowd's labels said (columns) on items given each grade (rows), as shares of the row, grades in order.",
      heatSvg(O.confusion, "true grade", "grade said"));
    const get = workerGetters(), n = DATA.workers.n;
    const bias = get.bias && get.spread ? Array.from({length: n}, (_, i) => get.bias(i)) : O.bias;
    const spread = get.bias && get.spread ? Array.from({length: n}, (_, i) => get.spread(i)) : O.spread;
    const parts = [heat];
    if (O.bias_source) {
      const m = Math.max(0.5, ...bias.filter((v) => v !== null).map((v) => Math.abs(v) * 1.1));
      const top = Math.max(0.5, ...spread.filter((v) => v !== null).map((v) => v * 1.1));
      const sc = annotatorScatter(bias, spread, {x: [-m, m], y: [0, top], vline: 0, xlabel: "bias (grades; + rates high)",
        ylabel: "spread (grades)", xname: "bias", yname: "spread", xdigits: 1, ydigits: 1});
      parts.push(figure("fig-bias-spread", "Each annotator's bias (how far, in grades, it rates above the truth on average) " +
        "against its spread (how widely its grades scatter): " + (O.bias_source === "model" ? "the ordinal model's parameters"
        : "the mean and standard deviation of (said − true) under its confusion matrix") +
        ". Flagged annotators in red; click a point to open it.", sc.svg));
    }
    b.append(el("div", {class: "grid2"}, ...parts));
  }

  // --- numeric answers -----------------------------------------------------------------------------------
  function numericSection() {
    const N = DATA.numeric, b = body("kind-numeric"), get = workerGetters(), n = DATA.workers.n;
    const facts = el("dl", {class: "facts", id: "numeric-facts"});
    if (N.value_mean !== null && N.value_mean !== undefined) facts.append(el("dt", {text: "true values (the model's prior)"}),
      el("dd", {text: "mean " + fmt(N.value_mean) + ", sd " + fmt(N.value_sd)}));
    if (N.flagged && N.flagged.length) facts.append(el("dt", {text: "answering at random"}),
      el("dd", {text: N.flagged.slice(0, 20).join(", ") + (N.flagged.length > 20 ? " and " + (N.flagged.length - 20) + " more" : "")}));
    b.append(facts);
    const figs = [];
    if (get.bias && (get.noise_sd || get.noise)) {
      const noiseOf = get.noise_sd || get.noise;
      const xs = Array.from({length: n}, (_, i) => get.bias(i)), ys = Array.from({length: n}, (_, i) => noiseOf(i));
      const m = extent(xs.map((v) => (v === null ? null : Math.abs(v))).concat([0]), 0.1)[1];
      const sc = annotatorScatter(xs, ys, {x: [-m, m], y: [0, extent(ys.concat([0]), 0.1)[1]], vline: 0,
        xlabel: "bias (answer minus true value, on average)", ylabel: "noise (sd of its errors)", xname: "bias", yname: "noise"});
      figs.push(figure("fig-bias-noise", "Each annotator's bias against its noise; flagged as answering at random in red. " +
        "Click a point to open it.", sc.svg));
    }
    const I = N.intervals;
    if (I && I.estimate.length) {
      const lo = extent(I.lower.concat(I.upper, I.estimate, I.gold || []), 0.04);
      const p = plot({w: 640, h: 320, x: [0, I.estimate.length + 1], y: lo, xticks: [], xlabel: "items, by estimate" +
        (I.estimate.length < I.n ? " (" + I.estimate.length + " of " + fmt(I.n) + ", evenly spaced)" : ""), ylabel: "value", yfmt: trim});
      I.estimate.forEach((e, j) => {
        const x = p.sx(j + 1);
        if (I.lower[j] !== null && I.upper[j] !== null) p.svg.append(sv("line", {x1: x, x2: x, y1: p.sy(I.lower[j]), y2: p.sy(I.upper[j]),
          stroke: "#9ec5f4", "stroke-width": Math.max(1, Math.min(3, 500 / I.estimate.length))}));
        if (I.gold && I.gold[j] !== null) p.svg.append(sv("circle", {cx: x, cy: p.sy(I.gold[j]), r: 2.2, fill: "#cf222e"}));
        p.svg.append(sv("circle", {cx: x, cy: p.sy(e), r: 1.8, fill: "#0969da"}));
      });
      figs.push(figure("fig-estimates", "Each item's estimate (blue) and its 95% interval (light blue), items sorted by estimate" +
        (I.gold ? "; gold values in red" : "") + ".", p.svg));
    }
    if (figs.length) b.append(el("div", {class: "grid2"}, ...figs));
    if (N.residuals) b.append(histogramFigure("fig-residuals", N.residuals, "estimate minus gold value",
      "The spread of the estimates around the gold values (items not clamped to them).", "#8250df"));
    else if (N.estimates) b.append(histogramFigure("fig-estimate-spread", N.estimates, "estimate", "How the estimates spread (every item)."));
    if (!figs.length) b.append(el("p", {class: "note", text: "The outputs have no estimate, bias or noise columns to draw."}));
  }

  // --- multi-select answers ---------------------------------------------------------------------------
  function multilabelSection() {
    const K = DATA.multilabel, b = body("kind-multilabel"), rows = K.classes;
    b.append(el("p", {class: "note", text: "Each class is a present/absent question: an item's set holds the classes whose " +
      "posterior is at least " + fmt(K.threshold) + ". Agreement: the share of agreeing pairs of answers on an item (items " +
      "with two answers or more), and Krippendorff's alpha for ticked / not ticked."}));
    const quart = (q) => (q ? fmt(q[1]) + " (" + fmt(q[0], 2) + "–" + fmt(q[2], 2) + ")" : "—");
    b.append(el("h3", {text: "Each class"}), simpleTable([["class"], ["estimated prevalence", "num"], ["items in the set", "num"],
      ["share of items", "num"], ["share of answers ticking it", "num"], ["agreement", "num"], ["alpha", "num"],
      ["sensitivity: median (quartiles)", "num"], ["specificity: median (quartiles)", "num"]],
    rows.map((r) => [r.class, fmt(r.prevalence), fmt(r.n_items), pct(r.share_items), pct(r.ticked), fmt(r.agreement), fmt(r.alpha),
      quart(r.sensitivity), quart(r.specificity)]), "per-class"));
    if (K.answers_note) b.append(el("p", {class: "note", id: "agreement-note", text: "No agreement nor who ticked what: " + K.answers_note}));
    // prevalence, share in the set, share of answers, per class
    const n = rows.length, barH = 30, series = [["prevalence", "#cf222e"], ["share_items", "#0969da"], ["ticked", "#8c959f"]];
    const hi = Math.max(0.05, ...rows.flatMap((r) => series.map(([k]) => r[k] || 0)));
    const p = plot({w: 640, h: 60 + n * barH, x: [0, Math.min(1, hi * 1.1)], y: [0, n], yticks: [], xlabel: "share",
      xfmt: (v) => Math.round(v * 100) + "%"});
    rows.forEach((r, i) => {
      const y = p.sy(n - i) + 3;
      series.forEach(([k, colour], j) => {
        if (r[k] === null || r[k] === undefined) return;
        p.svg.append(sv("rect", {x: p.sx(0), y: y + j * 8, width: Math.max(1, p.sx(r[k]) - p.sx(0)), height: 7, fill: colour}));
      });
      p.svg.append(sv("text", {x: p.m.l - 6, y: y + 14, "text-anchor": "end"}, r.class.length > 9 ? r.class.slice(0, 8) + "…" : r.class));
    });
    const figs = [figure("fig-ml-prevalence", "Per class: the estimated prevalence (red), the share of items whose set holds it " +
      "(blue) and the share of answers that tick it (grey).", p.svg)];
    if (rows.some((r) => r.agreement !== null)) {
      const q = plot({w: 640, h: 60 + n * barH, x: [Math.min(0, ...rows.map((r) => r.alpha || 0)), 1], y: [0, n], yticks: [],
        xlabel: "agreement (green) and Krippendorff's alpha (purple)", xdigits: 1});
      rows.forEach((r, i) => {
        const y = q.sy(n - i) + 3;
        [["agreement", "#2da44e"], ["alpha", "#8250df"]].forEach(([k, colour], j) => {
          if (r[k] === null) return;
          const x0 = q.sx(Math.min(0, r[k])), x1 = q.sx(Math.max(0, r[k]));
          q.svg.append(sv("rect", {x: x0, y: y + j * 11, width: Math.max(1, x1 - x0), height: 10, fill: colour}));
        });
        q.svg.append(sv("text", {x: q.m.l - 6, y: y + 14, "text-anchor": "end"}, r.class.length > 9 ? r.class.slice(0, 8) + "…" : r.class));
      });
      figs.push(figure("fig-ml-agreement", "Agreement between annotators on each class.", q.svg));
    }
    b.append(el("div", {class: "grid2"}, ...figs));
    // each class's sensitivity and specificity over the annotators
    const get = workerGetters(), W = DATA.workers;
    if (rows.some((r) => get["sensitivity[" + r.class + "]"])) {
      const multiples = el("div", {class: "small-multiples"});
      const rateRow = (r) => {
        const sens = get["sensitivity[" + r.class + "]"], spec = get["specificity[" + r.class + "]"];
        if (!sens || !spec) return;
        const q = plot({w: 300, h: 280, x: [0, 1], y: [0, 1], xlabel: "specificity", ylabel: "sensitivity", title: r.class,
          xdigits: 1, ydigits: 1});
        q.svg.append(sv("line", {x1: q.sx(0), y1: q.sy(1), x2: q.sx(1), y2: q.sy(0), stroke: "#8c959f", "stroke-dasharray": "4 3"}));
        for (let i = 0; i < W.n; i++) {
          const x = spec(i), y = sens(i);
          if (x === null || y === null) continue;
          const dot = sv("circle", {cx: q.sx(x), cy: q.sy(y), r: 3, fill: "#0969da", "fill-opacity": 0.55, style: "cursor:pointer"});
          dot.append(sv("title", {}, get.worker(i) + ": sensitivity " + fmt(y) + ", specificity " + fmt(x)));
          dot.addEventListener("click", () => openAnnotator(i));
          q.svg.append(dot);
        }
        multiples.append(el("div", {class: "multiple"}, q.svg));
      };
      rows.forEach(rateRow);
      b.append(figure("fig-ml-rates", "Each class: every annotator's sensitivity (ticks the class when it applies) against its " +
        "specificity (leaves it when it does not). The dashed line is chance (sensitivity + specificity = 1): points near it " +
        "tick the class at random. Click a point to open the annotator.", multiples));
    }
    // who ticked what, in an item's detail
    const A = K.answers;
    kindItem = (i) => {
      const T = DATA.items, parts = [];
      const post = CLASSES.map((c) => getter(column(T, "p[" + c + "]"))(i));
      const inSet = new Set(JSON.parse(getter(column(T, "classes"))(i) || "[]"));
      if (!A) return [el("p", {class: "note", id: "who-note", text: "Who ticked what is not shown: " + (K.answers_note || "no labels file")})];
      const wname = getter(column(DATA.workers, "worker"));
      const head = [["annotator"], ...CLASSES.map((c) => [c])];
      const table = [];
      const counts = CLASSES.map(() => 0);
      for (let o = A.offsets[i]; o < A.offsets[i + 1]; o++) {
        const w = A.worker[o], ticked = new Set(A.sets[o]);
        const who = w >= 0 ? el("button", {class: "link", text: wname(w), onclick: () => openAnnotator(w)}) : "(not held)";
        table.push([who, ...CLASSES.map((c, k) => { if (ticked.has(k)) counts[k]++; return ticked.has(k) ? "✓" : ""; })]);
      }
      table.push([el("strong", {text: "answers ticking"}), ...counts.map((c) => String(c))]);
      table.push([el("strong", {text: "posterior"}), ...post.map((v) => fmt(v))]);
      table.push([el("strong", {text: "in the set"}), ...CLASSES.map((c) => el("span", {class: inSet.has(c) ? "ok" : "no",
        text: inSet.has(c) ? "yes" : "no"}))]);
      parts.push(el("h3", {text: "Who ticked what"}), simpleTable(head, table, "who-ticked-what"));
      return parts;
    };
  }

  // --- comparisons of numeric and multi-select answers -----------------------------------------------
  function intervalFigure(id, names, value, ci, xlabel, caption) {
    const C = DATA.compare;
    const vals = names.flatMap((n) => [value(C.methods[n]), ...(ci(C.methods[n]) || [])]).filter((v) => v !== null && v !== undefined);
    const [x0, x1] = extent(vals.concat([0]), 0.08);
    const rowH = 28, p = plot({w: 640, h: 60 + rowH * names.length, x: [Math.max(0, x0), x1], y: [0, names.length], yticks: [],
      xlabel: xlabel, xfmt: trim});
    names.forEach((n, i) => {
      const e = C.methods[n], y = p.sy(names.length - i - 0.5), v = value(e), c = ci(e);
      if (c && c[0] !== null) p.svg.append(sv("line", {x1: p.sx(c[0]), x2: p.sx(c[1]), y1: y, y2: y, stroke: "#0969da", "stroke-width": 2}));
      if (v === null || v === undefined) return;
      p.svg.append(sv("circle", {cx: p.sx(v), cy: y, r: 5, fill: "#0969da"}));
      p.svg.append(sv("text", {x: p.sx(v), y: y - 8, "text-anchor": "middle"}, title(n) + " " + fmt(v)));
    });
    return figure(id, caption, p.svg);
  }
  function numericComparison() {
    const C = DATA.compare, b = body("comparison"), names = Object.keys(C.methods);
    const ci = (v) => (Array.isArray(v) ? fmt(v[0]) + " – " + fmt(v[1]) : "—");
    b.append(el("p", {class: "note", text: "Scored on " + fmt(C.n_gold) + " items with a true value" + (C.truth_file ? " (" +
      C.truth_file + ")" : "") + ". MAE and RMSE with 95% bootstrap intervals; the gain is the mean's error minus the method's, " +
      "paired over the same resamples (positive: closer to the truth than the mean). Coverage: the share of true values inside " +
      "the method's 95% interval."}));
    b.append(simpleTable([["method"], ["MAE", "num"], ["95% interval", "num"], ["RMSE", "num"], ["95% interval", "num"],
      ["MAE gain vs mean", "num"], ["95% interval", "num"], ["coverage", "num"], ["flagged", "num"], ["iterations", "num"], ["seconds", "num"]],
    names.map((n) => {
      const e = C.methods[n];
      return [title(n), fmt(e.mae), ci(e.mae_ci), fmt(e.rmse), ci(e.rmse_ci), fmt(e.mae_gain_vs_mean), ci(e.mae_gain_vs_mean_ci),
        pct(e.coverage), fmt(e.n_flagged), fmt(e.n_iter), fmt(e.fit_seconds, 2)];
    }), "metrics"));
    b.append(intervalFigure("fig-method-mae", names, (e) => e.mae, (e) => e.mae_ci, "mean absolute error (95% bootstrap interval)",
      "The mean absolute error of each method on the items with a true value, with its interval: lower is better."));
  }
  function multilabelComparison() {
    const C = DATA.compare, b = body("comparison"), names = Object.keys(C.methods);
    b.append(el("p", {class: "note", text: "Scored on " + fmt(C.n_gold) + " items with a gold set. Micro-F1 pools every (item, " +
      "class) decision; macro-F1 averages the classes' F1; exact: the share of items whose whole set is right; Hamming: the " +
      "share of decisions that are wrong (lower is better)."}));
    const gain = (e) => (e.gain_over_majority ? e.gain_over_majority.micro_f1 : null);
    b.append(simpleTable([["method"], ["micro-F1", "num"], ["macro-F1", "num"], ["exact set", "num"], ["Hamming loss", "num"],
      ["micro-F1 gain over majority", "num"]],
    names.map((n) => { const e = C.methods[n]; return [title(n), fmt(e.micro_f1), fmt(e.macro_f1), fmt(e.exact_set_accuracy),
      fmt(e.hamming_loss, 4), fmt(gain(e), 4)]; }), "metrics"));
    // F1 of each class, per method
    const classes = [...new Set(names.flatMap((n) => Object.keys(C.methods[n].f1_per_class || {})))];
    if (classes.length) {
      const colours = ["#8c959f", "#0969da", "#cf222e", "#2da44e", "#8250df", "#bf8700"];
      const rowH = 14 * names.length + 12, n = classes.length;
      const p = plot({w: 640, h: 60 + n * rowH, x: [0, 1], y: [0, n], yticks: [], xlabel: "F1 on the class", xdigits: 1});
      classes.forEach((c, i) => {
        const y = p.sy(n - i) + 4;
        names.forEach((m, j) => {
          const v = (C.methods[m].f1_per_class || {})[c];
          if (v === null || v === undefined) return;
          const bar = sv("rect", {x: p.sx(0), y: y + j * 14, width: Math.max(1, p.sx(v) - p.sx(0)), height: 12, fill: colours[j % colours.length]});
          bar.append(sv("title", {}, title(m) + ", " + c + ": F1 " + fmt(v)));
          p.svg.append(bar);
        });
        p.svg.append(sv("text", {x: p.m.l - 6, y: y + 12, "text-anchor": "end"}, c.length > 9 ? c.slice(0, 8) + "…" : c));
      });
      const key = el("p", {class: "note"}, ...names.flatMap((m, j) => [el("span", {class: "bar", style: "width:1em;background:" +
        colours[j % colours.length]}), " " + title(m) + "  "]));
      b.append(figure("fig-ml-f1", "The F1 of each class, per method.", key, p.svg));
    }
  }

  // --- machine annotators (fit --predictions / --machine) -------------------------------------------
  // The calibration figure: each confidence bin's mean stated confidence (x) against the accuracy the
  // fit learned for the bin (y), the bin's range of stated confidence as a bar, its shared items as n;
  // the diagonal is a machine that means what it states. When the machine states more than 0.95, both
  // axes are in "nines" (-log10(1 - p)), where the diagonal stays straight and 0.99 and 0.999 apart.
  function machineCalibrationFigure(m, w, h) {
    const C = m.calibration, k = CLASSES.length || 2;
    const accs = C.accuracy.filter((v) => v !== null);
    const stated = C.mean_stated.filter((v) => v !== null), highs = C.stated_high.filter((v) => v !== null);
    const top = Math.max(0, ...stated, ...highs);
    const nines = top > 0.95;
    const t = nines ? (p) => -Math.log10(Math.max(1e-6, 1 - Math.min(1, Math.max(0, p)))) : (p) => p;
    const lo = nines ? 0 : Math.max(0, Math.min(1 / k, ...stated, ...accs) - 0.05);
    const xhi = nines ? Math.max(2, t(top) + 0.3) : 1;
    const yhi = nines ? Math.max(1.3, t(Math.max(...accs, 0)) + 0.3) : 1;  // y: up to the best fitted bin
    const grid = nines ? [0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 0.9999, 0.99999, 0.999999] : null;
    const xticks = nines ? grid.filter((v) => v !== 0.8 && v !== 0.95).map(t).filter((v) => v <= xhi + 1e-9) : niceTicks(lo, 1, 5);
    const yticks = nines ? grid.map(t).filter((v) => v <= yhi + 1e-9) : niceTicks(lo, 1, 5);
    const inv = nines ? (v) => String(+(1 - Math.pow(10, -v)).toFixed(6)) : (v) => fmt(v, 2);
    const p = plot({w: w || 560, h: h || 380, x: [lo, xhi], y: [lo, yhi], xticks: xticks, yticks: yticks, xfmt: inv, yfmt: inv,
      xlabel: "confidence the machine states" + (nines ? " (nines scale: 0.9, 0.99, 0.999 equally apart)" : ""),
      ylabel: "accuracy fitted" + (nines ? " (nines scale)" : ""), title: m.name + (m.used ? "" : " (set aside)")});
    p.svg.setAttribute("data-machine", m.name);
    const d = Math.min(xhi, yhi);  // the diagonal, clipped to the figure
    p.svg.append(sv("line", {x1: p.sx(lo), y1: p.sy(lo), x2: p.sx(d), y2: p.sy(d), stroke: "#8c959f",
      "stroke-dasharray": "4 3", class: "diagonal"}));
    p.svg.append(sv("text", {x: p.sx(d) - 4, y: p.sy(d) + 14, "text-anchor": "end", fill: "#57606a"}, "means what it states"));
    const chance = t(1 / k);
    p.svg.append(sv("line", {x1: p.sx(lo), x2: p.sx(xhi), y1: p.sy(chance), y2: p.sy(chance), stroke: "#d0d7de",
      "stroke-dasharray": "2 3"}));
    p.svg.append(sv("text", {x: p.sx(xhi) - 4, y: p.sy(chance) - 4, "text-anchor": "end", fill: "#57606a"}, "chance"));
    const pts = [];
    C.accuracy.forEach((a, j) => {
      if (a === null) return;
      const x = C.mean_stated[j], n = C.count[j] || 0;
      if (x === null) {  // no confidence stated: one bin, its fitted accuracy across the figure
        p.svg.append(sv("line", {x1: p.sx(lo), x2: p.sx(xhi), y1: p.sy(t(a)), y2: p.sy(t(a)), stroke: "#bc4c00",
          "stroke-width": 2, class: "bin"}));
        p.svg.append(sv("text", {x: p.sx(lo) + 6, y: p.sy(t(a)) - 6, fill: "#bc4c00"},
          "no confidence stated: one bin, accuracy " + fmt(a) + " (n=" + n + ")"));
        return;
      }
      if (C.stated_low[j] !== null && C.stated_high[j] !== null) {
        p.svg.append(sv("line", {x1: p.sx(t(C.stated_low[j])), x2: p.sx(t(C.stated_high[j])), y1: p.sy(t(a)), y2: p.sy(t(a)),
          stroke: "#bc4c00", "stroke-opacity": 0.35, "stroke-width": 5, "stroke-linecap": "round"}));
      }
      pts.push(p.sx(t(x)) + "," + p.sy(t(a)));
      const dot = sv("circle", {cx: p.sx(t(x)), cy: p.sy(t(a)), r: 4, fill: "#bc4c00", class: "bin"});
      dot.append(sv("title", {}, "bin " + (j + 1) + ": stated " + fmt(C.stated_low[j], 4) + "–" + fmt(C.stated_high[j], 4) +
        " (mean " + fmt(x, 4) + "), fitted accuracy " + fmt(a) + ", " + n + " shared items"));
      p.svg.append(dot);
      p.svg.append(sv("text", {x: p.sx(t(x)) + 6, y: p.sy(t(a)) + 12, "font-size": "9"}, "n=" + n));
    });
    if (pts.length > 1) p.svg.insertBefore(sv("polyline", {points: pts.join(" "), fill: "none", stroke: "#bc4c00"}), p.svg.querySelector("circle.bin"));
    return p.svg;
  }
  function machineReason(m) {
    return el("span", {class: m.used ? "ok" : "no", text: m.reason});
  }
  function machineDetail(m) {
    return [el("h3", {text: "Machine: calibration"}), el("p", {class: "note machine-reason"}, machineReason(m)),
      figure("fig-machine-detail", "Stated confidence against the accuracy the fit learned, per confidence bin " +
        "(n: items it shares with people in the bin); the dashed diagonal is a machine that means what it states.",
        machineCalibrationFigure(m, 560, 380))];
  }
  function machineAnswers(i, get) {
    const rows = [];
    for (const m of DATA.machines.machines) {
      const ans = get["machine_" + m.name] ? get["machine_" + m.name](i) : null;
      if (!ans) continue;
      const conf = get["machine_" + m.name + "_confidence"] ? get["machine_" + m.name + "_confidence"](i) : null;
      const C = m.calibration;
      let bin = 0;
      if (conf !== null) for (const e of C.edges) if (e < conf) bin++;
      const agrees = get.label && ans === get.label(i);
      rows.push([m.name, ans, conf === null ? "—" : fmt(conf, 4), fmt(C.accuracy[bin]),
        el("span", {class: agrees ? "ok" : "no", text: agrees ? "yes" : "no"}), m.used ? "yes" : "no (set aside)"]);
    }
    if (!rows.length) return [el("p", {class: "note", id: "machine-none", text: "No machine predicted this item."})];
    return [el("h3", {text: "What the machines said"}), simpleTable([["machine"], ["answer"], ["stated confidence", "num"],
      ["fitted accuracy of its bin", "num"], ["agrees with the label"], ["counts"]], rows, "machine-answers")];
  }
  function machinesSection() {
    const M = DATA.machines, b = body("machines");
    b.append(el("p", {class: "note", text: "Each machine is an annotator whose trust is learned from the " + fmt(M.n_shared_items) +
      " items it shares with people, never set by hand: its accuracy per confidence bin is fitted by EM with the people's " +
      "confusion matrices. The crowd's accuracy is the people's estimated accuracy, weighted by their labels."}));
    const cmp = DATA.compare && DATA.compare.methods ? DATA.compare.methods : null;
    const rows = M.machines.map((m) => [m.name, fmt(m.estimated_accuracy), fmt(M.crowd_accuracy), fmt(m.items),
      fmt(m.shared_items), fmt(m.machine_only_items), pct(m.agrees_with_label),
      el("span", {class: m.used ? "ok" : "no", text: m.used ? "used" : "set aside"}), m.reason]);
    b.append(simpleTable([["machine"], ["estimated accuracy", "num"], ["crowd's accuracy", "num"], ["items predicted", "num"],
      ["shared with people", "num"], ["only it saw", "num"], ["agrees with the label", "num"], ["status"], ["why"]], rows,
      "machines-table"));
    if (cmp) {  // compare --predictions: the crowd alone, each machine alone, both
      const names = Object.keys(cmp);
      b.append(el("h3", {text: "On the gold items"}), simpleTable([["scored"], ["accuracy", "num"], ["log-loss", "num"],
        ["Brier", "num"], ["coverage", "num"]], names.map((n) => [n, fmt(cmp[n].accuracy), fmt(cmp[n].log_loss),
        fmt(cmp[n].brier), cmp[n].coverage === undefined ? "—" : fmt(cmp[n].coverage, 2)]), "machines-compare"));
    }
    const multiples = el("div");
    for (const m of M.machines) {
      const C = m.calibration;
      const six = (v) => (v === null ? "—" : String(+v.toFixed(v > 0.99 ? 6 : 4)));
      const binRows = C.accuracy.map((a, j) => [String(j + 1), C.stated_low[j] === null ? "none stated" :
        six(C.stated_low[j]) + " – " + six(C.stated_high[j]),
        six(C.mean_stated[j]), fmt(a), fmt(C.count[j])]);
      multiples.append(el("div", {class: "grid2 machine-calibration"}, machineCalibrationFigure(m, 560, 380),
        simpleTable([["bin"], ["stated confidence"], ["mean stated", "num"], ["fitted accuracy", "num"], ["shared items", "num"]],
          binRows, "machine-bins")));
    }
    b.append(figure("fig-machine-calibration", "Each machine's calibration: the confidence it states (mean over the bin's " +
      "items shared with people; the pale bar spans the bin) against the accuracy the fit learned for the bin, with n the " +
      "shared items in the bin. The dashed diagonal is a machine that means what it states; below it, overconfident.",
      multiples));
  }

  // --- kinds of task: each draws its own sections; tables and overview are shared ------------------
  const KINDS = {
    classification: () => classesSection(DATA.classification),
    ordinal: ordinalSection,
    numeric: numericSection,
    multilabel: multilabelSection,
  };

  overview();
  const kindView = KINDS[DATA.kind];
  const kindBody = document.querySelector("main > section:nth-of-type(2) > .body");
  if (kindView && DATA[DATA.kind]) kindView();
  else kindBody.append(el("p", {class: "note", text: "No figures of their own yet for this kind of task (" + DATA.kind +
    "); the items and annotators tables below show every column of the outputs."}));
  if (DATA.machines) machinesSection();
  annotatorsSection();
  itemsSection();
  if (DATA.compare) ({numeric: numericComparison, multilabel: multilabelComparison}[DATA.compare.kind] || comparisonSection)();
  detailsSection();
  window.addEventListener("beforeprint", () => { for (const d of document.querySelectorAll("details")) d.open = true; });
  document.body.setAttribute("data-ready", "1");
})();
