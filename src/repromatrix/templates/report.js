"use strict";
// repromatrix report: pivot grid, filters, search and cell details over the embedded data.
// Untrusted text only ever reaches the page through textContent.
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const cells = data.cells;
  const axes = data.axes.slice();
  const realAxes = data.axes.length;  // beyond them: a pivot's derived axis, never a filter
  const LIST_LIMIT = 300;
  const TRENDS = ["new-failure", "still-failing", "flaky", "fixed", "passing", "no-history"];
  const $ = (id) => document.getElementById(id);

  for (const c of cells) {
    c.haystack = (c.id + "\n" + c.evidence.join("\n")).toLowerCase();
  }
  const valuesOf = (i) => [...new Set(cells.map((c) => c.values[i]))];
  const axisValues = axes.map((_, i) => valuesOf(i));
  const outcomes = Object.keys(data.outcomes).filter((o) => cells.some((c) => c.outcome === o));
  const trends = TRENDS.filter((t) => cells.some((c) => c.trend === t));
  const varying = axes.map((_, i) => i).filter((i) => axisValues[i].length > 1);
  // pip and uv side by side: with more than one installer the pivot's default columns are the
  // installers and its rows each cell's environment (every other varying axis), so a row whose
  // colours differ is an environment where the installers disagree.
  const installerAt = axes.indexOf("installer");
  const byInstaller = installerAt >= 0 && axisValues[installerAt].length > 1;
  // Platforms side by side: a column each architecture a cell ran on (natively or emulated) or
  // platform it was only resolved for, a row each environment on all of them.
  const byPlatform = new Set(cells.map((c) => c.runsOn)).size > 1;
  if (byPlatform) {
    const platformAxes = ["arch", "platform"].map((a) => axes.indexOf(a));
    const others = varying.filter((i) => !platformAxes.includes(i));
    axes.push("runs on", "environment");
    for (const c of cells) c.values = [...c.values, c.runsOn, others.map((i) => c.values[i]).join(" · ") || "all"];
    axisValues.push(valuesOf(axes.length - 2), valuesOf(axes.length - 1));
  } else if (byInstaller) {
    const others = varying.filter((i) => i !== installerAt);
    axes.push("environment");
    for (const c of cells) c.values = [...c.values, others.map((i) => c.values[i]).join(" · ") || "all"];
    axisValues.push(valuesOf(axes.length - 1));
  }

  // "colour by": what the pivot's chips count, the outcome or the recommended fix ("fixable by").
  const fixOf = (c) => c.fix || (c.attempts.length ? "no clean fix" : (data.outcomes[c.outcome].failed ? "not tried" : "nothing to fix"));
  const state = {
    colour: "outcome",
    row: byPlatform || byInstaller ? axes.length - 1 : varying[0] ?? 0,
    col: byPlatform ? axes.length - 2 : byInstaller ? installerAt : varying[1] ?? varying[0] ?? 0,
    outcomes: new Set(outcomes),
    trends: new Set(trends),
    values: axes.map((_, i) => new Set(axisValues[i])),
    search: "",
    pick: null,
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    for (const child of children) if (child != null) node.append(child);
    return node;
  }
  const fill = (node, ...children) => node.replaceChildren(...children.filter((c) => c != null));
  const badge = (outcome) => el("span", { class: "badge o-" + outcome, text: outcome });
  const fixBadge = (fix) => el("span", { class: "badge f-" + fix, text: fix });
  const trendTag = (trend) => el("span", { class: "trend trend-" + trend, text: trend });

  function visible(c) {
    if (!state.outcomes.has(c.outcome) || !state.trends.has(c.trend)) return false;
    for (let i = 0; i < axes.length; i++) if (!state.values[i].has(c.values[i])) return false;
    return !state.search || c.haystack.includes(state.search);
  }

  // -- controls ------------------------------------------------------------------------
  function fillAxisSelect(select, key) {
    axes.forEach((name, i) => select.append(el("option", { value: String(i), text: name })));
    select.value = String(state[key]);
    select.addEventListener("change", () => { state[key] = Number(select.value); state.pick = null; render(); });
  }

  function checkboxGroup(title, items, set, label) {
    const box = el("fieldset", {}, el("legend", { text: title }));
    for (const item of items) {
      const input = el("input", { type: "checkbox", "data-group": title, value: item });
      input.checked = set.has(item);
      input.addEventListener("change", () => { input.checked ? set.add(item) : set.delete(item); render(); });
      box.append(el("label", {}, input, " ", label(item)));
    }
    return box;
  }

  function buildFilters() {
    const aside = $("filters");
    fill(aside,
      checkboxGroup("outcome", outcomes, state.outcomes, (o) => badge(o)),
      trends.length > 1 || trends[0] !== "no-history"
        ? checkboxGroup("trend", trends, state.trends, (t) => trendTag(t)) : null,
      ...axes.map((name, i) => axisValues[i].length > 1 && i < realAxes
        ? checkboxGroup(name, axisValues[i], state.values[i], (v) => document.createTextNode(v)) : null),
    );
  }

  // -- pivot grid ----------------------------------------------------------------------
  function renderPivot(shown) {
    const rows = axisValues[state.row];
    const cols = state.col === state.row ? ["all"] : axisValues[state.col];
    const groups = new Map();
    for (const c of shown) {
      const key = c.values[state.row] + "\u0000" + (state.col === state.row ? "all" : c.values[state.col]);
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(c);
    }
    const head = el("tr", {}, el("th", { text: axes[state.row] + " \\ " + (state.col === state.row ? "" : axes[state.col]) }));
    cols.forEach((v) => head.append(el("th", { text: v })));
    const table = $("pivot");
    table.replaceChildren(head);
    for (const r of rows) {
      const tr = el("tr", {}, el("th", { text: r }));
      for (const col of cols) tr.append(pivotCell(r, col, groups.get(r + "\u0000" + col) || []));
      table.append(tr);
    }
  }

  function pivotCell(r, col, group) {
    const picked = state.pick && state.pick.row === r && state.pick.col === col;
    const td = el("td", { class: group.length ? (picked ? "picked" : "") : "empty", "data-row": r, "data-col": col });
    const counts = new Map();
    const key = (c) => state.colour === "fix" ? fixOf(c) : c.outcome;
    for (const c of group) counts.set(key(c), (counts.get(key(c)) || 0) + 1);
    if (state.colour === "fix") {
      for (const [k, n] of [...counts].sort()) td.append(el("span", { class: "chip fixable", title: "fixable by " + k, text: k + " " + n }));
    }
    for (const o of state.colour === "fix" ? [] : outcomes) {
      if (counts.has(o)) td.append(el("span", { class: "chip o-" + o, title: o, text: String(counts.get(o)) }));
    }
    if (group.length) {
      td.addEventListener("click", () => { state.pick = picked ? null : { row: r, col }; render(); });
    }
    return td;
  }

  // -- list and details ----------------------------------------------------------------
  function renderList(shown) {
    let rows = shown;
    if (state.pick) {
      rows = rows.filter((c) => c.values[state.row] === state.pick.row &&
        (state.col === state.row || c.values[state.col] === state.pick.col));
    }
    rows = [...rows].sort((a, b) => (b.unexpected - a.unexpected) || a.id.localeCompare(b.id));
    const where = state.pick ? " in " + axes[state.row] + "=" + state.pick.row +
      (state.col === state.row ? "" : ", " + axes[state.col] + "=" + state.pick.col) : "";
    $("list-head").textContent = rows.length + " of " + cells.length + " cells" + where +
      (rows.length > LIST_LIMIT ? "; showing the first " + LIST_LIMIT + ", unexpected first" : "");
    const table = $("list");
    table.replaceChildren(el("tr", {}, ...["cell", "outcome", "expected", "trend", "version", "fix", "evidence"]
      .map((h) => el("th", { text: h }))));
    for (const c of rows.slice(0, LIST_LIMIT)) {
      table.append(el("tr", { class: "row", "data-id": c.id, onclick: () => openCell(c) },
        el("td", { text: c.id }), el("td", {}, badge(c.outcome)),
        el("td", { class: c.unexpected ? "unexpected" : "", text: c.expected.join(" or ") || "–" }),
        el("td", {}, trendTag(c.trend)),
        el("td", { text: c.resolved ? "would take " + (c.resolved.version || "nothing") + " (resolved)"
          : (c.before || "–") + " → " + (c.after || "–") }),
        el("td", { text: c.attempts.length ? (c.fix || "none works cleanly") : "" }),
        // An upgrade that landed low says why; any other cell shows the line that decided its outcome.
        el("td", { text: (c.outcome === "upgraded" && c.belowNewest) || c.evidence[0] || "" })));
    }
  }

  function field(dl, name, value) {
    if (value == null || value === "") return;
    dl.append(el("dt", { text: name }), el("dd", {}, typeof value === "string" ? document.createTextNode(value) : value));
  }

  function highlighted(text, evidence) {
    const pre = el("pre", { class: "output" });
    const wanted = new Set(evidence);
    for (const line of text.split("\n")) {
      pre.append(wanted.has(line.trim()) ? el("mark", { text: line }) : document.createTextNode(line), "\n");
    }
    return pre;
  }

  function openCell(c) {
    const panel = $("detail");
    const dl = el("dl");
    axes.slice(0, realAxes).forEach((name, i) => field(dl, name, c.values[i]));
    const newest = c.newest ? " (newest release " + c.newest + (c.newestForPython && c.newestForPython !== c.newest
      ? ", newest for this " + (c.resolved ? "platform" : "Python") + " " + c.newestForPython : "") + ")" : "";
    field(dl, "platform", c.platform);
    field(dl, "version", c.resolved
      ? "not installed: resolved, it would take " + (c.resolved.version || "nothing") + newest
      : (c.before || "not installed") + " → " + (c.after || "not installed") + newest);
    if (c.resolved && c.resolved.distributions.length) {
      field(dl, "the resolution", c.resolved.distributions.map((d) => d[0] + " " + d[1]).join(", "));
    }
    field(dl, "below newest", c.belowNewest);
    field(dl, "expected", c.expected.join(" or ") || "–");
    field(dl, "trend", c.trend + (c.previous ? " (previous run: " + c.previous + ")" : ""));
    field(dl, "command", el("code", { text: c.command }));
    field(dl, "exit code", c.pipExit == null ? null : String(c.pipExit));
    field(dl, "Python", c.python);
    field(dl, "interpreter", c.interpreter);
    field(dl, "installer", c.pip);
    // the installer's own check, as the cell ran it (`uv pip check` in a uv cell)
    const check = c.pipCheck && ("exit " + c.pipCheck.exitCode);
    const ranCheck = c.pipCheck && c.pipCheck.command;  // runs before 2026-12 did not say it
    field(dl, "check", ranCheck ? el("span", {}, el("code", { text: ranCheck }), ": " + check) : check);
    field(dl, "import", c.import ? (c.imports.join(", ") + ": " +
      (c.import.ok ? "ok, " + c.import.version : c.import.error)) : null);
    field(dl, "durations", Object.entries(c.durations).map(([k, v]) => k + " " + v + "s").join(", "));
    field(dl, "setup", c.setup);
    field(dl, "Docker host", c.host || null);
    field(dl, "files", el("span", {}, el("a", { href: c.dockerfile, text: "Dockerfile" }), " · ",
      el("a", { href: c.log, text: "log" })));
    fill(panel,
      el("button", { class: "close", type: "button", text: "close (Esc)", onclick: closeCell }),
      el("h2", {}, c.id + " ", badge(c.outcome)),
      el("p", { text: data.outcomes[c.outcome].summary }),
      // over the page's size budget (page_budget.py): say what this panel leaves out
      c.trimmed ? el("p", { class: "trimmed", text: "Trimmed to keep the page within its size budget: " +
        (c.trimmed === "minimal" ? "only the first evidence line and the remedies' verdicts are here" :
          "the remedies' evidence, what the upgrade changed, the checks and the issue block are left out") +
        "; results.json, report.zip and the cell's log (below) hold all of it." }) : null,
      el("h3", { text: "evidence" }), el("pre", { class: "evidence", text: c.evidence.join("\n") }),
      dl,
      ...c.notes.map((n) => el("p", { text: "note: " + n })),
      c.pipCheck && c.pipCheck.exitCode ? el("pre", { text: c.pipCheck.output }) : null,
      c.whyNoWheel ? el("h3", { text: "why no wheel matched" }) : null,
      c.whyNoWheel ? el("p", { text: c.whyNoWheel.summary + (c.whyNoWheel.notShown ? " (" + c.whyNoWheel.notShown +
        " wheels for other systems not listed)" : "") }) : null,
      c.whyNoWheel ? el("table", { class: "wheels" }, el("tbody", {}, ...c.whyNoWheel.rows.map((r) =>
        el("tr", { class: r.fits ? "fits" : "ruled-out" }, el("td", {}, el("code", { text: r.file })),
          el("td", { text: r.reason }))))) : null,
      c.changed.length ? el("h3", { text: "what the upgrade changed (" + c.changed.length + ")" }) : null,
      c.changed.length ? el("table", { class: "changed" }, el("tbody", {}, ...c.changed.map((d) =>
        el("tr", {}, el("td", { text: d.change }), el("td", {}, el("code", { text: d.name })),
          el("td", { text: (d.before || "") + (d.before && d.after ? " → " : "") + (d.after || "") }),
          el("td", { text: d.installer }))))) : null,
      ...aroundIt(c),
      ...whatFixesIt(c),
      c.checks.length ? el("h3", { text: "checks after the upgrade" }) : null,
      ...c.checks.map((k) => el("details", { class: "check" },
        el("summary", { text: k.name + " as " + k.identity + ": " + (k.exitCode === 0 ? "passed" : "exit " + k.exitCode) }),
        el("pre", { text: k.output }))),
      el("h3", { text: "reproduce (from the run directory)" }), el("pre", { text: c.reproduce }),
      c.issueFields ? el("h3", { text: "for the issue template (its fields, ready to paste)" }) : null,
      c.issueFields ? el("pre", { text: c.issueFields }) : null,
      c.output ? el("h3", { text: "log (end; evidence marked)" }) : null,
      c.output ? highlighted(c.output, c.evidence) : null,
      c.dockerfileText ? el("h3", { text: "Dockerfile" }) : null,
      c.dockerfileText ? el("pre", { text: c.dockerfileText }) : null,
    );
    panel.hidden = false;
    history.replaceState(null, "", "#cell=" + encodeURIComponent(c.id));
  }

  // Each remedy tried in a fresh container of this cell's image: what was typed, what came of it.
  // The libraries around the target that the upgrade broke, and how many modules were imported.
function aroundIt(c) {
  const around = c.around || {};
  const broken = Array.isArray(around.broken) ? around.broken : [];
  if (!broken.length) return [];
  return [el("h3", { text: "no longer importing after the upgrade (" + broken.length + " of " + (around.imported || 0)
      + " modules around it)" }),
    el("ul", { class: "broken" }, ...broken.map((b) => el("li", { text: String(b.said || "") })))];
}

function whatFixesIt(c) {
    if (!c.attempts.length) return [];
    const best = c.attempts.find((a) => a.remedy === c.fix);
    return [
      el("h3", { text: "what fixes it" }),
      el("p", { class: "fix-verdict", text: best ? "Fix: " + best.title + " (" + best.remedy + ")" :
        "None of the " + c.attempts.length + " remedies tried works cleanly." }),
      best ? el("pre", { class: "fix-commands", text: best.commands.join("\n") }) : null,
      ...c.attempts.map((a) => el("details", { class: "attempt", "data-remedy": a.remedy },
        el("summary", {}, fixBadge(a.fix), " " + a.title + " (" + a.remedy + "): ", badge(a.outcome)),
        el("pre", { text: a.commands.join("\n") }),
        a.warning ? el("p", { class: "warning", text: "warning: " + a.warning }) : null,
        el("pre", { class: "attempt-evidence", text: a.evidence.join("\n") }),
        a.log ? el("a", { href: a.log, text: "log" }) : null)),
    ];
  }

  function closeCell() {
    $("detail").hidden = true;
    history.replaceState(null, "", "#");
  }

  function render() {
    const shown = cells.filter(visible);
    renderPivot(shown);
    renderList(shown);
  }

  function reset() {
    state.outcomes = new Set(outcomes);
    state.trends = new Set(trends);
    state.values = axes.map((_, i) => new Set(axisValues[i]));
    state.search = "";
    state.pick = null;
    $("search").value = "";
    buildFilters();
    render();
  }

  $("colour-by").addEventListener("change", (e) => { state.colour = e.target.value; render(); });
  fillAxisSelect($("row-axis"), "row");
  fillAxisSelect($("col-axis"), "col");
  $("search").addEventListener("input", (e) => { state.search = e.target.value.trim().toLowerCase(); render(); });
  $("reset").addEventListener("click", reset);
  document.addEventListener("keydown", (e) => { if (e.key === "Escape") closeCell(); });
  buildFilters();
  render();
  $("static").hidden = true;
  $("app").hidden = false;
  const wanted = decodeURIComponent((location.hash.match(/^#cell=(.*)$/) || [])[1] || "");
  const target = cells.find((c) => c.id === wanted);
  if (target) openCell(target);
  document.body.setAttribute("data-ready", "true");
})();
