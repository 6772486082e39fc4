// jpegtext comparison page: plain JavaScript, same-origin API calls only (works offline).
"use strict";

const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();

const state = {
  role: null,          // "photo" (compress it here) or "received" (a JPEG to restore as is)
  file: null,          // the dropped file
  photo: null,         // Blob sent to /v1/encode (maybe shrunk)
  photoSize: null,     // [w, h] of the photo
  jpeg: null,          // Blob of the JPEG being restored
  storedCaption: null, // caption the sender's captioner wrote (or the file holds)
  captioner: null,
  urls: {},            // object URLs to revoke
  seq: 0,              // restoration counter (data-seq on #restored)
  run: 0,              // pipeline run id: stale answers are dropped
  abort: null,
  health: null,
  view: { scale: 1, tx: 0, ty: 0, fit: true, split: 0.5, mode: "slider" },
};

// ------------------------------------------------------------------ utilities
function fmtBytes(n) {
  if (n == null || isNaN(n)) return "—";
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1000).toFixed(n < 1e4 ? 2 : 1)} kB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}
function fmtPct(x) { return x == null ? "—" : `${(100 * x).toFixed(x < 0.1 ? 2 : 1)} %`; }
function setURL(key, blob) {
  if (state.urls[key]) URL.revokeObjectURL(state.urls[key]);
  state.urls[key] = blob ? URL.createObjectURL(blob) : null;
  return state.urls[key];
}
function header(res, name) {
  const v = res.headers.get(name);
  return v == null ? null : v;
}
function captionHeader(res) {
  const v = header(res, "X-Jpegtext-Caption");
  try { return v == null ? null : decodeURIComponent(v); } catch (e) { return v; }
}
function toast(msg) {
  const t = $("toast");
  t.textContent = msg;
  t.classList.remove("hidden");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => t.classList.add("hidden"), 7000);
}
function busy(on, text) {
  $("busy").classList.toggle("hidden", !on);
  if (text) $("busy-text").textContent = text;
}
function authHeaders() {
  const t = sessionStorage.getItem("jpegtext-token");
  return t ? { Authorization: `Bearer ${t}` } : {};
}

async function api(path, body, params, signal) {
  const url = new URL(path, location.href);
  for (const [k, v] of Object.entries(params || {})) if (v != null) url.searchParams.set(k, v);
  const res = await fetch(url, {
    method: body ? "POST" : "GET", body, signal,
    headers: Object.assign(body ? { "Content-Type": body.type || "application/octet-stream" } : {}, authHeaders()),
  });
  if (res.status === 401) $("token-card").classList.remove("hidden");
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { const j = await res.json(); msg = `${j.message || msg} (${res.status})`; } catch (e) { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    throw err;
  }
  return res;
}

// ------------------------------------------------------------------ health
async function loadHealth() {
  try {
    const res = await fetch("/healthz");
    const h = await res.json();
    state.health = h;
    $("health").className = "health ok";
    $("health-text").textContent = `${h.model} · ready${h.token_required ? " · token required" : ""}`;
    if (h.token_required && !sessionStorage.getItem("jpegtext-token")) $("token-card").classList.remove("hidden");
  } catch (e) {
    $("health").className = "health bad";
    $("health-text").textContent = "service unreachable";
  }
}

// ------------------------------------------------------------------ input
async function shrinkIfLarge(file) {
  if (!$("shrink").checked) return { blob: file, size: null };
  let bmp;
  try { bmp = await createImageBitmap(file, { imageOrientation: "from-image" }); } catch (e) { return { blob: file, size: null }; }
  const long = Math.max(bmp.width, bmp.height);
  if (long <= 1024) { const size = [bmp.width, bmp.height]; bmp.close(); return { blob: file, size }; }
  const k = 1024 / long;
  const w = Math.round(bmp.width * k), h = Math.round(bmp.height * k);
  const canvas = document.createElement("canvas");
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingQuality = "high";
  ctx.drawImage(bmp, 0, 0, w, h);
  bmp.close();
  const blob = await new Promise((ok) => canvas.toBlob(ok, "image/png"));
  return { blob, size: [w, h] };
}

function isJpeg(file) {
  return file.type === "image/jpeg" || /\.jpe?g$/i.test(file.name);
}

async function loadFile(file) {
  if (!file) return;
  state.file = file;
  state.view.fit = true;  // a new picture starts fitted
  clearViewer();
  $("drop").classList.add("loaded");
  $("drop-title").textContent = file.name;
  $("drop-hint").textContent = `${fmtBytes(file.size)} · drop another file to replace it`;
  let role = "photo";
  let info = null;
  if (isJpeg(file)) {
    try {
      info = await (await api("/v1/inspect", file)).json();
      // a stored caption (or an extreme QF) means a file as the receiver gets it
      if (info.caption != null || (info.quality != null && info.quality <= 10)) role = "received";
    } catch (e) { toast(e.message); return; }
  }
  $("role").classList.toggle("hidden", !isJpeg(file));
  state.inspected = info;
  await setRole(role);
}

async function setRole(role) {
  state.role = role;
  $("role-photo").classList.toggle("on", role === "photo");
  $("role-received").classList.toggle("on", role === "received");
  $("qf-card").classList.toggle("locked", role === "received");
  $("qf").disabled = role === "received";
  $("before-src").querySelector('[value="photo"]').disabled = role === "received";
  if (role === "received") $("before-src").value = "jpeg";
  if (role === "photo") {
    $("qf-note").textContent = "Lower = smaller file, stronger artifacts.";
    const { blob, size } = await shrinkIfLarge(state.file);
    state.photo = blob;
    state.photoSize = size;
    setURL("photo", blob);
    state.storedCaption = null;
    $("caption").value = "";
    await pipeline({ recaption: true });
  } else {
    const info = state.inspected || (await (await api("/v1/inspect", state.file)).json());
    state.inspected = info;
    state.photo = null;
    state.jpeg = state.file;
    state.storedCaption = info.caption || "";
    state.captioner = info.captioner;
    $("caption").value = state.storedCaption;
    $("qf-note").textContent = "The received file's quality is fixed: it is read from its tables.";
    if (info.quality != null) { $("qf").value = Math.min(10, Math.max(1, info.quality)); updateQfBadge(info.quality); }
    showJpegStats(info.total_bytes, info.caption_bytes, info.caption_share, info.quality, [info.width, info.height]);
    $("s-photo").textContent = "—";
    setBefore();
    await pipeline({ restoreOnly: true });
  }
}

// ------------------------------------------------------------------ pipeline
function currentCaption() { return $("caption").value; }
function captionEdited() { return state.storedCaption !== null && currentCaption() !== state.storedCaption; }

async function pipeline(opts = {}) {
  if (!state.file) return;
  const run = ++state.run;
  if (state.abort) state.abort.abort();
  const ctl = new AbortController();
  state.abort = ctl;
  $("restore-btn").disabled = true;
  try {
    if (state.role === "photo" && !opts.restoreOnly) {
      busy(true, opts.recaption ? "Captioning and compressing…" : "Compressing…");
      const params = { quality: $("qf").value };
      if (!opts.recaption) params.caption = currentCaption();
      const res = await api("/v1/encode", state.photo, params, ctl.signal);
      const jpeg = await res.blob();
      if (run !== state.run) return;
      state.jpeg = jpeg;
      // null when the service left a long caption out of the headers (it is in the JPEG)
      const caption = captionHeader(res);
      if (opts.recaption && caption != null) {
        state.storedCaption = caption;
        state.captioner = header(res, "X-Jpegtext-Captioner");
        $("caption").value = caption;
      }
      const size = (header(res, "X-Jpegtext-Size") || "").split("x").map(Number);
      showJpegStats(+header(res, "X-Jpegtext-Bytes"), +header(res, "X-Jpegtext-Caption-Bytes"),
        +header(res, "X-Jpegtext-Caption-Share"), +header(res, "X-Jpegtext-Quality"), size);
      $("s-photo").textContent = fmtBytes(state.photo.size);
      setBefore();
    }
    busy(true, "Restoring…");
    const bound = $("consistency").value;
    // auto: the file's own caption bounds colour too (full); a caption edited here steers (luma),
    // also when it was stored in the file just now by this page playing the sender
    const params = { consistency: bound === "auto" && captionEdited() ? "luma" : bound,
                     ensemble: $("ensemble").value, guidance: $("guidance").value };
    // a received file keeps its stored caption unless the user edited it (text control)
    if (state.role === "received" && captionEdited()) params.caption = currentCaption();
    const res = await api("/v1/restore", state.jpeg, params, ctl.signal);
    const png = await res.blob();
    if (run !== state.run) return;
    showRestored(png, res);
  } catch (e) {
    if (e.name !== "AbortError" && run === state.run) toast(e.message);
  } finally {
    if (run === state.run) { busy(false); $("restore-btn").disabled = false; }
    updateCaptionMeta();
  }
}

function clearViewer() {
  // a new file: nothing of the previous one stays on screen (even if the new one fails)
  state.jpeg = null;
  state.storedCaption = null;
  $("caption").value = "";
  $("stage-slider").classList.add("hidden");
  $("stage-side").classList.add("hidden");
  $("empty").classList.remove("hidden");
  $("restored-caption").textContent = "";
  for (const id of ["s-size", "s-photo", "s-bytes", "s-caption", "s-share", "s-qf", "s-model", "s-consistency", "s-time"]) $(id).textContent = "—";
  $("s-share-bar").style.width = "0";
  for (const id of ["dl-jpeg", "dl-png"]) $(id).setAttribute("aria-disabled", "true");
  updateCaptionMeta();
}

function showJpegStats(bytes, capBytes, share, qf, size) {
  $("s-bytes").textContent = fmtBytes(bytes);
  $("s-caption").textContent = `${capBytes} B`;
  $("s-share").textContent = fmtPct(share);
  $("s-share-bar").style.width = `${Math.min(100, 100 * share * 5)}%`;  // x5: small shares stay visible
  $("s-qf").textContent = qf ? `QF ${qf}` : "—";
  if (size && size.length === 2 && size[0]) $("s-size").textContent = `${size[0]} × ${size[1]} px`;
  state.jpegBytes = bytes;
  state.qf = qf;
  const dl = $("dl-jpeg");
  dl.href = setURL("jpegdl", state.jpeg);
  dl.setAttribute("aria-disabled", "false");
  dl.download = (state.file.name.replace(/\.[^.]+$/, "") || "photo") + (state.role === "photo" ? `_q${qf}.jpg` : ".jpg");
}

function setBefore() {
  const src = $("before-src").value === "photo" && state.photo ? "photo" : "jpeg";
  const url = src === "photo" ? state.urls.photo : setURL("jpeg", state.jpeg);
  $("before-img").src = url;
  $("side-before").src = url;
  const text = src === "photo" ? "<b>Original</b> photo"
    : `<b>JPEG</b> QF ${state.qf || "?"} · ${fmtBytes(state.jpegBytes)}`;
  for (const id of ["label-before", "label-side-before"]) { $(id).innerHTML = text; $(id).classList.add("before-label"); }
  $("empty").classList.add("hidden");
  showStage();
}

function showRestored(png, res) {
  const url = setURL("png", png);
  state.seq += 1;
  const caption = captionHeader(res) || "";
  const model = header(res, "X-Jpegtext-Model");
  const ms = header(res, "X-Jpegtext-Time-Ms");
  for (const id of ["after-img", "side-after"]) $(id).src = url;
  const img = $("restored");
  img.src = url;
  img.dataset.seq = String(state.seq);
  img.dataset.caption = caption;
  img.dataset.source = header(res, "X-Jpegtext-Caption-Source") || "";
  const label = `<b>Restored</b> · ${model} · #${state.seq}`;
  $("label-after").innerHTML = label;
  $("label-side-after").innerHTML = label;
  $("s-model").textContent = model || "—";
  const ens = header(res, "X-Jpegtext-Ensemble");
  const strength = header(res, "X-Jpegtext-Guidance");
  $("s-consistency").textContent = (header(res, "X-Jpegtext-Consistency") || "—")
    + (ens && ens !== "1" ? ` · ensemble x${ens}` : "")
    + (strength && strength !== "1" ? ` · strength ${strength}` : "");
  $("s-time").textContent = ms ? `${(ms / 1000).toFixed(2)} s` : "—";
  $("restored-caption").innerHTML = "";
  const b = document.createElement("b");
  b.textContent = caption ? `“${caption}”` : "no caption";
  $("restored-caption").append("Restoration #" + state.seq + " guided by ", b);
  const dl = $("dl-png");
  dl.href = url;
  dl.setAttribute("aria-disabled", "false");
  dl.download = (state.file.name.replace(/\.[^.]+$/, "") || "photo") + "_restored.png";
  $("reset-btn").disabled = !captionEdited();
}

function updateCaptionMeta() {
  const text = currentCaption();
  const n = enc.encode(text).length;
  const words = text.trim() ? text.trim().split(/\s+/).length : 0;
  $("caption-bytes").textContent = `${n} bytes of text`;
  $("caption-words").textContent = `${words} word${words === 1 ? "" : "s"}${words > 18 ? " (the model reads 18)" : ""}`;
  const origin = $("caption-origin");
  if (state.storedCaption === null) { origin.textContent = "—"; origin.className = "badge subtle"; return; }
  if (captionEdited()) { origin.textContent = "edited"; origin.className = "badge edited"; }
  else { origin.textContent = state.role === "received" ? "from the file" : (state.captioner || "given"); origin.className = "badge subtle"; }
  $("reset-btn").disabled = !captionEdited();
}

function updateQfBadge(q) { $("qf-badge").textContent = `QF ${q}`; }

// ------------------------------------------------------------------ viewer
function naturalSize() {
  const img = $("after-img").naturalWidth ? $("after-img") : $("before-img");
  return [img.naturalWidth || 1, img.naturalHeight || 1];
}
function stageBox() {
  const el = state.view.mode === "slider" ? $("stage-slider") : $("pane-left");
  return [el.clientWidth || 1, el.clientHeight || 1];
}
function fitView() {
  const [w, h] = naturalSize();
  const [sw, sh] = stageBox();
  const v = state.view;
  v.scale = Math.min(sw / w, sh / h, 4);
  v.tx = (sw - w * v.scale) / 2;
  v.ty = (sh - h * v.scale) / 2;
  v.fit = true;
  render();
}
function zoomTo(scale, cx, cy) {
  const v = state.view;
  const [sw, sh] = stageBox();
  cx = cx == null ? sw / 2 : cx;
  cy = cy == null ? sh / 2 : cy;
  scale = Math.max(0.05, Math.min(16, scale));
  v.tx = cx - (cx - v.tx) * (scale / v.scale);
  v.ty = cy - (cy - v.ty) * (scale / v.scale);
  v.scale = scale;
  v.fit = false;
  render();
}
function render() {
  const v = state.view;
  const t = `translate(${v.tx}px, ${v.ty}px) scale(${v.scale})`;
  for (const id of ["before-img", "after-img", "side-before", "side-after"]) $(id).style.transform = t;
  const pix = v.scale >= 2;
  $("stage-slider").classList.toggle("pixelated", pix);
  $("stage-side").classList.toggle("pixelated", pix);
  $("zoom-level").textContent = `${Math.round(v.scale * 100)} %`;
  const sw = $("stage-slider").clientWidth;
  const x = v.split * sw;
  $("layer-after").style.clipPath = `inset(0 0 0 ${x}px)`;
  $("divider-line").style.left = `${x}px`;
  for (const b of document.querySelectorAll("[data-zoom]")) {
    const z = b.dataset.zoom;
    b.classList.toggle("on", z === "fit" ? v.fit : !v.fit && Math.abs(+z - v.scale) < 1e-6);
  }
}
function showStage() {
  const slider = state.view.mode === "slider";
  $("stage-slider").classList.toggle("hidden", !slider);
  $("stage-side").classList.toggle("hidden", slider);
  $("divider").classList.toggle("hidden", !slider);
  $("view-slider").classList.toggle("on", slider);
  $("view-side").classList.toggle("on", !slider);
  if (state.view.fit) fitView(); else render();
}
function setSplit(f) {
  state.view.split = Math.max(0, Math.min(1, f));
  $("divider").value = String(state.view.split * 100);
  render();
}

function bindViewer() {
  for (const stageId of ["stage-slider", "stage-side"]) {
    const stage = $(stageId);
    let drag = null;
    stage.addEventListener("pointerdown", (e) => {
      const onDivider = e.target.closest("#divider-line");
      const rect = (stageId === "stage-side" ? e.target.closest(".pane") || stage : stage).getBoundingClientRect();
      drag = { kind: onDivider ? "split" : "pan", x: e.clientX, y: e.clientY, tx: state.view.tx, ty: state.view.ty, rect };
      stage.setPointerCapture(e.pointerId);
      if (!onDivider) stage.classList.add("panning");
    });
    stage.addEventListener("pointermove", (e) => {
      if (!drag) return;
      if (drag.kind === "split") {
        const r = stage.getBoundingClientRect();
        setSplit((e.clientX - r.left) / r.width);
      } else {
        state.view.tx = drag.tx + e.clientX - drag.x;
        state.view.ty = drag.ty + e.clientY - drag.y;
        state.view.fit = false;
        render();
      }
    });
    const end = () => { drag = null; stage.classList.remove("panning"); };
    stage.addEventListener("pointerup", end);
    stage.addEventListener("pointercancel", end);
    stage.addEventListener("wheel", (e) => {
      e.preventDefault();
      const target = stageId === "stage-side" ? e.target.closest(".pane") || stage : stage;
      const r = target.getBoundingClientRect();
      zoomTo(state.view.scale * Math.exp(-e.deltaY * 0.0015), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });
  }
  $("divider").addEventListener("input", (e) => setSplit(+e.target.value / 100));
  for (const b of document.querySelectorAll("[data-zoom]")) {
    b.addEventListener("click", () => (b.dataset.zoom === "fit" ? fitView() : zoomTo(+b.dataset.zoom)));
  }
  for (const b of document.querySelectorAll("[data-view]")) {
    b.addEventListener("click", () => { state.view.mode = b.dataset.view; showStage(); });
  }
  for (const id of ["before-img", "after-img"]) $(id).addEventListener("load", () => { if (state.view.fit) fitView(); });
  window.addEventListener("resize", () => (state.view.fit ? fitView() : render()));
  window.addEventListener("keydown", (e) => {
    if (e.target.tagName === "TEXTAREA" || e.target.tagName === "INPUT") return;
    if (e.key === "ArrowLeft") setSplit(state.view.split - 0.05);
    if (e.key === "ArrowRight") setSplit(state.view.split + 0.05);
    if (e.key === "0") fitView();
  });
}

// ------------------------------------------------------------------ controls
function bindControls() {
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) loadFile(e.dataTransfer.files[0]);
  });
  document.addEventListener("dragover", (e) => e.preventDefault());
  document.addEventListener("drop", (e) => { e.preventDefault(); if (e.dataTransfer.files.length) loadFile(e.dataTransfer.files[0]); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
  $("file").addEventListener("change", (e) => loadFile(e.target.files[0]));
  $("role-photo").addEventListener("click", () => state.file && state.role !== "photo" && setRole("photo"));
  $("role-received").addEventListener("click", () => state.file && state.role !== "received" && setRole("received"));

  $("qf").addEventListener("input", (e) => updateQfBadge(e.target.value));
  $("qf").addEventListener("change", () => pipeline());  // keeps the (maybe edited) caption

  let timer = null;
  $("caption").addEventListener("input", () => {
    updateCaptionMeta();
    clearTimeout(timer);
    timer = setTimeout(() => pipeline(), 900);  // restore again once typing pauses
  });
  $("caption").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); clearTimeout(timer); pipeline(); }
  });
  $("restore-btn").addEventListener("click", () => { clearTimeout(timer); pipeline(); });
  $("reset-btn").addEventListener("click", () => {
    if (state.storedCaption === null) return;
    $("caption").value = state.storedCaption;
    clearTimeout(timer);
    pipeline();
  });
  $("before-src").addEventListener("change", setBefore);
  for (const id of ["consistency", "ensemble", "guidance"]) {
    $(id).addEventListener("change", () => { if (state.jpeg) { clearTimeout(timer); pipeline({ restoreOnly: true }); } });
  }
  $("token-btn").addEventListener("click", () => {
    sessionStorage.setItem("jpegtext-token", $("token").value.trim());
    $("token-card").classList.add("hidden");
    loadHealth();
    if (state.file) pipeline(state.role === "photo" && state.storedCaption === null ? { recaption: true } : {});
  });
}

bindControls();
bindViewer();
updateCaptionMeta();
loadHealth();
