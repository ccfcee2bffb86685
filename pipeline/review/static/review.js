// pipeline review: click-to-seek words, rating/decision buttons, the rating mode's keys.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const player = document.getElementById("player");

  async function post(url, fields) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields),
      credentials: "same-origin",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error || body.detail || response.statusText);
    return body;
  }

  // Click a word: play from its start time.
  document.querySelectorAll(".word[data-start]").forEach((word) => {
    word.addEventListener("click", () => {
      if (!player) return;
      player.currentTime = parseFloat(word.dataset.start);
      player.play().catch(() => {});
    });
  });

  const decide = document.querySelector(".decide");
  const status = document.getElementById("decide-status");
  function show(text, bad) {
    if (!status) return;
    status.textContent = text;
    status.className = "status" + (bad ? " bad" : " ok");
  }
  async function rate(mos) {
    try {
      await post("/api/rating", { dataset: decide.dataset.dataset, file_hash: decide.dataset.hash, mos: mos });
      decide.querySelectorAll("button.rate").forEach((b) => b.classList.toggle("chosen", b.dataset.mos === String(mos)));
      show("rated " + mos);
      const rated = document.getElementById("rated");
      if (rated && !decide.dataset.rated) {
        rated.textContent = String(parseInt(rated.textContent, 10) + 1);
        const bar = document.querySelector(".progress progress");
        if (bar) bar.value = parseInt(rated.textContent, 10);
      }
      decide.dataset.rated = "1";
    } catch (error) { show(error.message, true); }
  }
  async function review(decision) {
    const note = decide.querySelector(".note");
    try {
      const body = await post("/api/review", {
        dataset: decide.dataset.dataset, file_hash: decide.dataset.hash, decision: decision, note: note ? note.value : "",
      });
      decide.querySelectorAll("button.review").forEach((b) => b.classList.toggle("chosen", b.dataset.decision === decision));
      const kept = document.getElementById("effective-keep");
      if (kept) kept.textContent = body.effective_keep ? "yes" : "no";
      const human = document.getElementById("human-decision");
      if (human) human.textContent = decision;
      show(decision + "d");
    } catch (error) { show(error.message, true); }
  }
  if (decide) {
    if (decide.querySelector("button.rate.chosen")) decide.dataset.rated = "1";
    decide.querySelectorAll("button.rate").forEach((b) => b.addEventListener("click", () => rate(parseInt(b.dataset.mos, 10))));
    decide.querySelectorAll("button.review").forEach((b) => b.addEventListener("click", () => review(b.dataset.decision)));
  }

  // Reviewer name (a cookie; with basic auth the login name wins).
  const form = document.getElementById("reviewer-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await post("/api/reviewer", { name: document.getElementById("reviewer-name").value });
        location.reload();
      } catch (error) { alert(error.message); }
    });
  }

  // Rating mode: space plays, 1-5 rate, a/r approve/reject, n next.
  const rating = document.getElementById("rating");
  if (rating) {
    document.addEventListener("keydown", (event) => {
      const target = event.target;
      if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === " ") {
        event.preventDefault();
        if (player.paused) player.play().catch(() => {}); else player.pause();
      } else if (/^[1-5]$/.test(event.key)) {
        rate(parseInt(event.key, 10));
      } else if (event.key === "a") {
        review("approve");
      } else if (event.key === "r") {
        review("reject");
      } else if (event.key === "n") {
        const next = document.getElementById("next-clip");
        if (next) location.href = next.href; else show("that was the last clip of the sample");
      }
    });
  }
})();
