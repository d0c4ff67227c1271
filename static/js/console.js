// The console's few behaviours htmx does not give: confirmations that name their actions,
// focus kept across swaps, the live log viewer, the cron form's status, and the "/" search.
// Every page works without it; it only makes them kinder.
"use strict";

const FOCUSABLE =
  "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea, [tabindex]";

// --- Live parts: they refresh while the tab is seen and no question is asked --------------

// Every poller's filter (hx-trigger "every 2s [mayRefresh()]"): a part swapped under an open
// confirmation would take the form being confirmed with it, and the answer would go nowhere.
window.mayRefresh = () =>
  document.visibilityState === "visible" && !document.querySelector("dialog[open]");

// The control whose request waits for an answer; a refresh already on its way when the
// question opened is dropped rather than swapped over it (the next one comes after).
let confirming = null;

document.addEventListener("htmx:beforeSwap", (event) => {
  if (confirming && event.detail.target.contains(confirming)) event.detail.shouldSwap = false;
});

// --- Confirmations: "Cancel execution 7" / "Keep it running", not OK / Cancel -------------

function ask(source, question, yes, no) {
  const dialog = document.getElementById("confirm");
  confirming = source;
  dialog.querySelector("[data-question]").textContent = question;
  dialog.querySelector("button[value=yes]").textContent = yes || "Yes";
  dialog.querySelector("button[value=no]").textContent = no || "No";
  dialog.returnValue = "";
  dialog.showModal();
  dialog.querySelector("button[value=no]").focus();
  return new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        confirming = null;
        resolve(dialog.returnValue === "yes");
      },
      { once: true },
    );
  });
}

document.addEventListener("htmx:confirm", (event) => {
  const source = event.detail.elt;
  if (!event.detail.question) return;
  event.preventDefault();
  ask(source, event.detail.question, source.dataset.confirmYes, source.dataset.confirmNo).then(
    (confirmed) => confirmed && event.detail.issueRequest(true),
  );
});

// A plain form (no htmx) with data-confirm asks the same way before it is sent.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!form.dataset.confirm || form.hasAttribute("hx-post")) return;
  event.preventDefault();
  ask(form, form.dataset.confirm, form.dataset.confirmYes, form.dataset.confirmNo).then(
    (confirmed) => confirmed && form.submit(),
  );
});

// --- Focus: a swapped part keeps the focus where it was (the same control, by position) ----

let focusBeforeSwap = null;

function rememberFocus(target) {
  const active = document.activeElement;
  if (!target || !target.id || !active || !target.contains(active)) return;
  const index = [...target.querySelectorAll(FOCUSABLE)].indexOf(active);
  focusBeforeSwap = { id: target.id, index: Math.max(index, 0) };
}

function restoreFocus() {
  if (!focusBeforeSwap) return;
  const { id, index } = focusBeforeSwap;
  focusBeforeSwap = null;
  const swapped = document.getElementById(id);
  if (!swapped || (document.activeElement && swapped.contains(document.activeElement))) return;
  const controls = swapped.querySelectorAll(FOCUSABLE);
  const control = controls[Math.min(index, controls.length - 1)];
  if (control) control.focus({ preventScroll: true });
}

document.addEventListener("htmx:beforeSwap", (event) => rememberFocus(event.detail.target));
document.addEventListener("htmx:oobBeforeSwap", (event) => rememberFocus(event.detail.target));
document.addEventListener("htmx:afterSettle", restoreFocus);

// --- The log viewer -------------------------------------------------------------------------

function logViewer(root) {
  const log = root.querySelector(".log");
  const follow = root.querySelector("[name=follow]");
  const wrap = root.querySelector("[name=wrap]");
  const search = root.querySelector("[name=search]");
  const level = root.querySelector("[name=level]");
  const shown = root.querySelector("[data-shown]");
  const atBottom = () => log.scrollHeight - log.scrollTop - log.clientHeight < 24;

  function filter() {
    const text = search.value.trim().toLowerCase();
    const levels = level.value ? level.value.split(",") : null;
    let visible = 0;
    const lines = log.querySelectorAll(".line");
    for (const line of lines) {
      const hidden =
        (levels && !levels.includes(line.dataset.level || "")) ||
        (text && !line.textContent.toLowerCase().includes(text));
      line.hidden = Boolean(hidden);
      visible += hidden ? 0 : 1;
    }
    shown.textContent = text || levels ? `${visible} of ${lines.length} lines shown` : "";
  }
  function followIfAsked() {
    if (follow.checked) log.scrollTop = log.scrollHeight;
  }
  log.addEventListener("scroll", () => {
    follow.checked = atBottom(); // scrolling up pauses; back at the end follows again
  });
  follow.addEventListener("change", followIfAsked);
  wrap.addEventListener("change", () => log.classList.toggle("nowrap", !wrap.checked));
  search.addEventListener("input", filter);
  level.addEventListener("change", filter);
  root.querySelector("[data-first-error]").addEventListener("click", () => {
    const error = log.querySelector(".line[data-level=ERROR], .line[data-level=CRITICAL]");
    if (!error) {
      shown.textContent = "No error in the log.";
      return;
    }
    follow.checked = false;
    error.hidden = false;
    log.scrollTop = error.offsetTop - log.offsetTop;
    error.classList.add("flash");
  });
  // New lines arrive by htmx into the log: filtered as the rest, then followed.
  log.addEventListener("htmx:afterSettle", () => {
    filter();
    followIfAsked();
  });
  filter();
  followIfAsked();
}

// --- The instance form: a cron typed is a cron that runs, unless paused by choice ---------

function cronStatus(form) {
  const cron = form.querySelector("[name=cron]");
  const status = form.querySelector("[name=cron_status]");
  if (!cron || !status) return;
  cron.addEventListener("input", () => {
    if (cron.value.trim() && !status.value) status.value = "ACTIVE";
    if (!cron.value.trim()) status.value = "";
  });
  zoneFilter(form);
}

// The time zone list, narrowed as one types: "paris" leaves Europe/Paris, chosen.
function zoneFilter(form) {
  const filter = form.querySelector("[data-zone-filter]");
  const zones = form.querySelector("[name=cron_timezone]");
  if (!filter || !zones) return;
  filter.hidden = false;
  filter.addEventListener("input", () => {
    const wanted = filter.value.trim().toLowerCase().replaceAll(" ", "_");
    let first = null;
    for (const option of zones.options) {
      option.hidden = Boolean(wanted) && !option.value.toLowerCase().includes(wanted);
      if (!option.hidden && !first) first = option;
    }
    if (wanted && first && zones.selectedOptions[0]?.hidden !== false) {
      zones.value = first.value;
      zones.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });
}

// --- "/" opens the quick search; Escape leaves it ----------------------------------------

document.addEventListener("keydown", (event) => {
  const search = document.getElementById("quick-search");
  if (!search || event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = event.target.closest("input, textarea, select, [contenteditable]");
  if (typing) return;
  event.preventDefault();
  search.focus();
  search.select();
});

function setUp() {
  document.querySelectorAll("[data-log-viewer]").forEach(logViewer);
  document.querySelectorAll("form[data-instance-form]").forEach(cronStatus);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
else setUp();
