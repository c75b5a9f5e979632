// The careid report's filters: by status, suite, requirement and text, over the requirement,
// skipped/waived and test tables. Loaded from the run folder (no network, no storage), so it
// works opened from disk. Without it every row stays shown and the controls stay hidden.
"use strict";

(function () {
  const form = document.getElementById("filters");
  if (!form) {
    return;
  }
  const sections = ["requirements", "not-run", "tests"]
    .map((id) => document.getElementById(id))
    .filter(Boolean);
  const rowsOf = (section) => Array.from(section.querySelectorAll("tbody tr[data-status]"));
  const texts = new Map(); // row -> its lower-cased text, read once

  function haystack(row) {
    let text = texts.get(row);
    if (text === undefined) {
      text = row.textContent.toLowerCase();
      texts.set(row, text);
    }
    return text;
  }

  function wanted() {
    const checked = form.querySelectorAll("input[name=status]:checked");
    return {
      statuses: new Set(Array.from(checked, (box) => box.value)),
      suite: form.elements.suite.value,
      requirement: form.elements.requirement.value,
      words: form.elements.q.value.trim().toLowerCase().split(/\s+/).filter(Boolean),
    };
  }

  function matches(row, want) {
    if (!want.statuses.has(row.dataset.status)) {
      return false;
    }
    if (want.suite && !row.dataset.suite.split(" ").includes(want.suite)) {
      return false;
    }
    if (want.requirement && !row.dataset.requirements.split(" ").includes(want.requirement)) {
      return false;
    }
    const text = haystack(row);
    return want.words.every((word) => text.includes(word));
  }

  function apply() {
    const want = wanted();
    const counts = [];
    for (const section of sections) {
      const rows = rowsOf(section);
      let shown = 0;
      for (const row of rows) {
        row.hidden = !matches(row, want);
        shown += row.hidden ? 0 : 1;
      }
      const nothing = section.querySelector(".nothing");
      if (nothing) {
        nothing.hidden = shown > 0 || rows.length === 0;
      }
      if (section.id === "requirements" || section.id === "tests") {
        counts.push(`${shown} of ${rows.length} ${section.id}`);
      }
    }
    form.querySelector(".shown").textContent = counts.join(", ") + " shown";
  }

  function onlyFailures() {
    for (const box of form.querySelectorAll("input[name=status]")) {
      box.checked = ["failed", "error", "untested"].includes(box.value);
    }
    apply();
  }

  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", (event) => event.preventDefault());
  // The reset event comes before the fields are reset.
  form.addEventListener("reset", () => window.setTimeout(apply, 0));
  form.querySelector("[data-action=failures]").addEventListener("click", onlyFailures);

  document.addEventListener("click", (event) => {
    const link = event.target.closest("a[href^='#']");
    if (!link) {
      return;
    }
    if (link.dataset.showSuite !== undefined) {
      form.reset();
      form.elements.suite.value = link.dataset.showSuite;
      apply();
      return;
    }
    // A link to a row the filters hide shows everything again rather than going nowhere.
    const target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    if (target && target.closest("[hidden]")) {
      form.reset();
      apply();
    }
  });

  document.addEventListener("keydown", (event) => {
    const typing = event.target.closest("input, select, textarea");
    if (event.key === "/" && !typing) {
      event.preventDefault();
      form.elements.q.focus();
    }
  });

  form.hidden = false;
  apply();
})();
