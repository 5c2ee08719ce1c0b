// Scopeline console: the live stream of decisions. Without JavaScript
// the decisions page lists what was stored when it loaded; this adds the
// decisions taken since, as the issuer records them (server-sent events
// from the audit stream). Rows are built with textContent only.
"use strict";
(() => {
  const live = document.getElementById("live");
  const table = document.querySelector("#decisions tbody");
  if (!live || !table || !window.EventSource) return;
  const status = document.getElementById("live-status");
  const toggle = document.getElementById("live-toggle");
  const maxRows = 500;
  let source = null;
  let last = 0;
  let fresh = 0;
  live.hidden = false;

  const say = (text, on) => {
    status.textContent = text;
    live.classList.toggle("on", !!on);
  };
  const cell = (tr, text, code) => {
    const td = document.createElement("td");
    if (code) {
      const c = document.createElement("code");
      c.textContent = text;
      td.append(c);
    } else {
      td.textContent = text;
    }
    tr.append(td);
    return td;
  };
  const tag = (kind, text) => {
    const s = document.createElement("span");
    s.className = "tag k-" + kind;
    s.textContent = text;
    return s;
  };
  const add = (row) => {
    if (row.seq <= last) return; // already shown
    last = row.seq;
    const empty = table.querySelector(".empty-row");
    if (empty) empty.remove();
    const tr = document.createElement("tr");
    tr.className = "k-" + row.kind + " fresh";
    tr.dataset.seq = row.seq;
    const when = cell(tr, "");
    const a = document.createElement("a");
    a.href = row.href;
    const t = document.createElement("time");
    t.dateTime = row.time;
    t.textContent = row.time.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");
    a.append(t);
    when.append(a);
    const kind = cell(tr, "");
    kind.append(tag(row.kind, row.kind));
    if (row.kind === "dry-run" && row.outcome === "denied") kind.append(" ", tag("denied", "would be denied"));
    else if (row.kind === "hook-failed") kind.append(" ", tag(row.outcome, row.outcome));
    cell(tr, row.client, true);
    cell(tr, row.api || "", true);
    cell(tr, row.scopes, true);
    cell(tr, row.detail || "");
    table.prepend(tr);
    while (table.rows.length > maxRows) table.deleteRow(-1);
    fresh++;
    say(`Live: ${fresh} new decision${fresh === 1 ? "" : "s"} since the page loaded`, true);
  };
  const open = () => {
    const url = new URL(live.dataset.stream, location.href);
    url.searchParams.set("after", String(last));
    source = new EventSource(url);
    source.addEventListener("open", () => say(fresh ? `Live: ${fresh} new decisions since the page loaded` : "Live: waiting for decisions", true));
    source.addEventListener("decision", (e) => add(JSON.parse(e.data)));
    source.addEventListener("error", () => say("Live stream interrupted; reconnecting…", false));
    toggle.textContent = "Pause";
  };
  const close = () => {
    if (source) source.close();
    source = null;
    say("Paused: new decisions are not shown", false);
    toggle.textContent = "Resume";
  };
  last = Number(new URL(live.dataset.stream, location.href).searchParams.get("after")) || 0;
  toggle.addEventListener("click", () => (source ? close() : open()));
  open();
})();
