// slotguard console: small, dependency-free scripts (CSP: script-src 'self', no inline script).
// Charts and graphs are hand-written SVG built from JSON blocks the server embeds in the page.
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";

  function data(id) {
    const el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function svg(tag, attrs, parent) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    if (parent) parent.appendChild(el);
    return el;
  }

  function text(parent, x, y, content, attrs) {
    const t = svg("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    t.textContent = content;
    return t;
  }

  // --- score over time -------------------------------------------------------------------------
  function scoreChart() {
    const box = document.getElementById("score-chart");
    const d = data("score-data");
    if (!box || !d) return;
    const pts = d.points.map((p) => ({ t: Date.parse(p.t), s: p.score }));
    if (!pts.length) { box.textContent = "No scored snapshot stored."; return; }
    const W = 640, H = 180, L = 40, R = 10, T = 10, B = 24;
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img" }, box);
    const t0 = pts[0].t, t1 = Math.max(pts[pts.length - 1].t, t0 + 1);
    const top = Math.max(d.threshold || 0, ...pts.map((p) => p.s)) * 1.1 || 1;
    const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
    const y = (s) => H - B - (H - T - B) * s / top;
    svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }, root);
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }, root);
    text(root, 4, y(top / 1.1) + 4, (top / 1.1).toFixed(1), { class: "tick" });
    text(root, 4, H - B, "0", { class: "tick" });
    text(root, L, H - 6, new Date(t0).toISOString().slice(0, 16).replace("T", " "), { class: "tick" });
    text(root, W - R, H - 6, new Date(t1).toISOString().slice(0, 16).replace("T", " "), { class: "tick", "text-anchor": "end" });
    if (d.threshold != null) {
      svg("line", { x1: L, y1: y(d.threshold), x2: W - R, y2: y(d.threshold), class: "threshold" }, root);
      text(root, W - R, y(d.threshold) - 4, "threshold " + d.threshold.toFixed(2), { class: "tick", "text-anchor": "end" });
    }
    const path = pts.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + "," + y(p.s).toFixed(1)).join(" ");
    svg("path", { d: path, class: "score-line" }, root);
    for (const p of pts) {
      const dot = svg("circle", { cx: x(p.t).toFixed(1), cy: y(p.s).toFixed(1), r: 2.5, class: "score-dot" }, root);
      svg("title", {}, dot).textContent = new Date(p.t).toISOString().slice(0, 16).replace("T", " ") + " score " + p.s.toFixed(2);
    }
  }

  // --- reasons: highlight their events in the timeline -------------------------------------------
  function reasons() {
    const evidence = data("evidence-data");
    if (!evidence) return;
    const status = document.getElementById("reason-status");
    const rows = Array.from(document.querySelectorAll("table.timeline tr[data-event]"));
    document.querySelectorAll("button.reason").forEach((button) => {
      button.addEventListener("click", () => {
        const on = button.getAttribute("aria-pressed") !== "true";
        document.querySelectorAll("button.reason").forEach((b) => b.setAttribute("aria-pressed", "false"));
        rows.forEach((r) => r.classList.remove("hit"));
        if (!on) { status.textContent = ""; return; }
        button.setAttribute("aria-pressed", "true");
        const found = evidence[button.dataset.reason] || { ids: [], total: 0 };
        const ids = new Set(found.ids);
        let shown = 0, first = null;
        rows.forEach((r) => {
          if (ids.has(r.dataset.event)) { r.classList.add("hit"); shown += 1; first = first || r; }
        });
        status.textContent = `${shown} of this reason's ${found.total} events are in the timeline below (highlighted).` +
          (shown < found.total ? " Use “show only these events” to list them all." : "");
        if (first) first.scrollIntoView({ block: "center" });
      });
    });
  }

  // --- graphs: a radial layout (account page) and rings by hop (operation page) --------------------
  function nodeClass(n) {
    return "node" + (n.center ? " center" : "") + (n.flagged ? " flagged" : "") + (n.victim ? " victim" : "");
  }

  function drawGraph(box, nodes, edges, W, H) {
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "graph-svg", role: "img" }, box);
    const pos = new Map(nodes.map((n) => [n.id, n]));
    for (const e of edges) {
      const a = pos.get(e.a), b = pos.get(e.b);
      if (!a || !b) continue;
      const line = svg("line", { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: "edge " + e.kinds.map((k) => "k-" + k.replace(/\s+/g, "-")).join(" ") }, root);
      svg("title", {}, line).textContent = e.kinds.join(", ");
    }
    for (const n of nodes) {
      const link = svg("a", { href: "/account/" + encodeURIComponent(n.id) }, root);
      svg("circle", { cx: n.x, cy: n.y, r: n.center ? 10 : 7, class: nodeClass(n) }, link);
      svg("title", {}, link).textContent = n.id + (n.score != null ? " · score " + Number(n.score).toFixed(2) : "");
      text(link, n.x + 9, n.y + 4, n.id.replace(/^acc-/, "").slice(0, 8), { class: "label" });
    }
  }

  function accountGraph() {
    const box = document.getElementById("graph");
    const g = data("graph-data");
    if (!box || !g) return;
    if (g.nodes.length < 2) { box.textContent = "No linked account."; return; }
    const W = 640, H = 420, cx = W / 2, cy = H / 2, r = 170;
    const others = g.nodes.filter((n) => !n.center);
    g.nodes[0].x = cx; g.nodes[0].y = cy;
    others.forEach((n, i) => {
      const a = 2 * Math.PI * i / others.length;
      n.x = cx + r * Math.cos(a); n.y = cy + r * Math.sin(a);
    });
    drawGraph(box, g.nodes, g.edges, W, H);
    if (g.total > others.length) {
      const p = document.createElement("p");
      p.className = "muted";
      p.textContent = `${others.length} of ${g.total} linked accounts drawn (strongest ties).`;
      box.appendChild(p);
    }
  }

  function operationGraph() {
    const box = document.getElementById("op-graph");
    const g = data("op-data");
    if (!box || !g) return;
    const W = 720, H = 480, cx = W / 2, cy = H / 2;
    const byDepth = new Map();
    g.members.forEach((m) => { if (!byDepth.has(m.depth)) byDepth.set(m.depth, []); byDepth.get(m.depth).push(m); });
    const maxDepth = Math.max(...byDepth.keys(), 1);
    const nodes = [];
    for (const [depth, ms] of byDepth) {
      ms.forEach((m, i) => {
        const rad = depth === 0 ? 0 : 40 + (Math.min(W, H) / 2 - 60) * depth / maxDepth;
        const a = 2 * Math.PI * i / ms.length + depth * 0.4;
        nodes.push({ id: m.account_id, center: depth === 0, flagged: m.flagged, victim: m.category === "resale_buyer",
          score: m.score, x: cx + rad * Math.cos(a), y: cy + rad * Math.sin(a) });
      });
    }
    drawGraph(box, nodes, g.edges.map((e) => ({ a: e.a, b: e.b, kinds: [e.kind] })), W, H);
  }

  // --- overview: bars per day, one chart per site ----------------------------------------------------
  function overviewCharts() {
    const box = document.getElementById("overview-charts");
    const d = data("overview-data");
    if (!box || !d) return;
    const series = [["flags", "flagged"], ["handoffs", "handoffs"], ["dismissed", "flags dismissed"]];
    for (const site of d.sites) {
      const days = d.days.filter((r) => r.site === site);
      const fig = document.createElement("figure");
      const cap = document.createElement("figcaption");
      cap.textContent = site + ", per day: ";
      for (const [key, label] of series) {
        const item = document.createElement("span");
        item.className = "key s-" + key;
        item.textContent = label;
        cap.appendChild(item);
      }
      const W = 640, H = 160, L = 30, B = 28, T = 8;
      const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart-svg", role: "img" }, fig);
      const top = Math.max(1, ...days.flatMap((r) => series.map((s) => r[s[0]])));
      const slot = (W - L - 10) / Math.max(1, days.length), bar = slot / (series.length + 1);
      svg("line", { x1: L, y1: H - B, x2: W - 10, y2: H - B, class: "axis" }, root);
      text(root, 4, T + 8, String(top), { class: "tick" });
      days.forEach((r, i) => {
        series.forEach((s, j) => {
          const h = (H - B - T) * r[s[0]] / top;
          const rect = svg("rect", { x: L + i * slot + j * bar + bar / 2, y: H - B - h, width: bar - 1, height: h, class: "bar s-" + s[0] }, root);
          svg("title", {}, rect).textContent = `${r.day} ${s[1]}: ${r[s[0]]}`;
        });
        text(root, L + i * slot + slot / 2, H - 10, r.day.slice(5), { class: "tick", "text-anchor": "middle" });
      });
      fig.appendChild(cap);
      box.appendChild(fig);
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    scoreChart(); reasons(); accountGraph(); operationGraph(); overviewCharts();
  });
})();
