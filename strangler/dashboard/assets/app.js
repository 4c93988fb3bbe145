// Strangler migration dashboard: refresh the server-rendered fragments, submit route flips and
// drive rollouts (start, pause, resume, abort through /rollouts).
// Served by the admin port itself (no CDN, no library). Fragments come escaped by the server;
// anything this script writes itself goes through textContent.
"use strict";
(() => {
  const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
  const csrf = meta("csrf-token");
  const every = Math.max(1, Number(meta("refresh-seconds")) || 3) * 1000;
  const operator = document.getElementById("operator");
  const updated = document.getElementById("updated");
  let busy = false;

  if (operator) {
    operator.value = localStorage.getItem("strangler-operator") || "";
    operator.addEventListener("change", () => localStorage.setItem("strangler-operator", operator.value.trim()));
  }

  // Replace a section, keeping the diff lists a reader has opened.
  function swap(id, html) {
    const box = document.getElementById(id);
    if (!box || typeof html !== "string") return;
    const open = new Set([...box.querySelectorAll("details[open]")].map((d) => d.dataset.key));
    box.innerHTML = html;
    box.querySelectorAll("details").forEach((d) => { if (open.has(d.dataset.key)) d.open = true; });
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const res = await fetch("/dashboard/data?fragments=1", { credentials: "same-origin", cache: "no-store" });
      if (res.status === 401) { location.assign("/login"); return; }
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const data = await res.json();
      swap("routes-body", data.fragments.routes);
      swap("history-body", data.fragments.history);
      swap("backends-body", data.fragments.backends);
      swap("rollouts-body", data.fragments.rollouts);
      document.getElementById("store-version").textContent = String(data.store_version);
      updated.textContent = `updated ${new Date(data.generated_at * 1000).toISOString().slice(11, 19)} UTC`;
      updated.classList.remove("stale");
    } catch (err) {
      updated.textContent = `refresh failed: ${err.message}`;
      updated.classList.add("stale");
    } finally {
      busy = false;
    }
  }

  function actor() {
    const name = operator ? operator.value.trim() : "";
    return name ? `${name} (dashboard)` : "dashboard";
  }

  function wire(form) {
    const { mode, weight, reason, force } = form.elements;
    const out = form.querySelector("output");
    const sync = () => {
      const canary = mode.value === "canary";
      weight.disabled = !canary;
      if (canary && !(Number(weight.value) >= 1)) weight.value = 10;
      if (!canary) weight.value = mode.value === "service" ? 100 : 0;
    };
    mode.addEventListener("change", sync);
    sync();
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const payload = { mode: mode.value, reason: reason.value.trim(), actor: actor() };
      if (mode.value === "canary") payload.weight = Number(weight.value);
      if (force && force.checked) payload.force = true;
      out.className = "result";
      out.textContent = "applying…";
      try {
        const res = await fetch(`/routes/${encodeURIComponent(form.dataset.route)}`, {
          method: "PUT",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify(payload),
        });
        if (res.status === 401) { location.assign("/login"); return; }
        const body = await res.json().catch(() => ({}));
        if (!res.ok) {
          out.className = "result error";
          out.textContent = body.error || `HTTP ${res.status}`;
        } else {
          const c = body.changed;
          const to = c.to_mode === "canary" ? `canary ${c.to_weight}%` : c.to_mode;
          out.className = "result ok";
          out.textContent = `#${c.id}: ${c.from_mode} → ${to}`;
          reason.value = "";
          if (force) force.checked = false;
        }
      } catch (err) {
        out.className = "result error";
        out.textContent = `request failed: ${err.message}`;
      }
      refresh();
    });
  }

  async function send(out, method, path, payload) {
    out.className = "result";
    out.textContent = "sending…";
    try {
      const res = await fetch(path, {
        method,
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify(payload),
      });
      if (res.status === 401) { location.assign("/login"); return null; }
      const body = await res.json().catch(() => ({}));
      if (!res.ok) {
        out.className = "result error";
        out.textContent = body.error || `HTTP ${res.status}`;
        return null;
      }
      return body;
    } catch (err) {
      out.className = "result error";
      out.textContent = `request failed: ${err.message}`;
      return null;
    }
  }

  function wireRollout(form) {
    const out = form.querySelector("output");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const verb = ev.submitter ? ev.submitter.dataset.verb : "start";
      const { steps, min_requests: minRequests, interval, reason } = form.elements;
      const route = encodeURIComponent(form.dataset.route);
      const payload = { reason: reason.value.trim(), actor: actor() };
      let path = `/rollouts/${route}/${verb}`;
      if (verb === "start") {
        path = `/rollouts/${route}`;
        payload.steps = steps.value.trim();
        payload.analysis = { min_requests: Number(minRequests.value), interval: Number(interval.value) };
      }
      const body = await send(out, "POST", path, payload);
      if (body) {
        const r = body.rollout;
        out.className = "result ok";
        out.textContent = `rollout #${r.id}: ${r.status.replace("_", " ")} at ${r.current}`;
        reason.value = "";
      }
      refresh();
    });
  }

  document.querySelectorAll("form.flip").forEach(wire);
  document.querySelectorAll("form.rollout-form").forEach(wireRollout);
  setInterval(() => { if (!document.hidden) refresh(); }, every);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
})();
