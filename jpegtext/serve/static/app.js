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
  jpegCaption: null,   // the caption inside state.jpeg ("" none), as this page sent or read it
  jpegStale: true,     // the photo must be compressed (again) before the next restoration
  storedCaption: null, // caption the sender's captioner wrote (or the file holds); null: unknown
  captioner: null,
  inspected: null,     // /v1/inspect of a dropped JPEG
  urls: {},            // object URLs to revoke
  seq: 0,              // restoration counter (data-seq on #restored)
  run: 0,              // pipeline run id: stale answers are dropped
  abort: null,         // aborts the running pipeline's requests
  action: 0,           // load / role switch id: a newer one wins, an older one stops at its next await
  loading: 0,          // the id of the load or role switch under way (0: none)
  loadAbort: null,     // aborts the running load's requests
  timer: null,         // a debounced pipeline (typing, quick option changes)
  pending: null,       // ... and its options
  retryTimer: null,    // one retry after a 503 with Retry-After
  redo: null,          // what to do again once a token is given (after a 401)
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
function press(button, on) {  // a toggle button: its look and its state for assistive technology
  button.classList.toggle("on", on);
  button.setAttribute("aria-pressed", String(on));
}
function setDownload(id, url, name) {
  const a = $(id);
  // a disabled link has no href: neither a click nor Enter downloads anything
  if (url) { a.href = url; a.download = name; a.setAttribute("aria-disabled", "false"); }
  else { a.removeAttribute("href"); a.setAttribute("aria-disabled", "true"); }
}
function baseName() { return (state.file && state.file.name.replace(/\.[^.]+$/, "")) || "photo"; }

const TOKEN_KEY = "jpegtext-token";
// HTTP header values are Latin-1: with any other character fetch() throws before sending
function tokenProblem(t) {
  for (const c of t) {
    const n = c.codePointAt(0);
    if (n < 0x20 || (n >= 0x7f && n < 0xa0) || n > 0xff) {
      return `the token holds “${c}”, which an HTTP header cannot carry (Latin-1 letters only)`;
    }
  }
  return null;
}
function askToken(msg) {
  $("token-card").classList.remove("hidden");
  $("token-msg").textContent = msg || "";
}
function authHeaders() {
  const t = sessionStorage.getItem(TOKEN_KEY);
  if (!t) return {};
  const problem = tokenProblem(t);
  if (problem) {
    const err = new Error(`The stored token cannot be sent: ${problem}. Give it again.`);
    err.status = 401;
    askToken(err.message);
    throw err;
  }
  return { Authorization: `Bearer ${t}` };
}

async function api(path, body, params, signal) {
  const url = new URL(path, location.href);
  for (const [k, v] of Object.entries(params || {})) if (v != null) url.searchParams.set(k, v);
  const res = await fetch(url, {
    method: body ? "POST" : "GET", body, signal,
    headers: Object.assign(body ? { "Content-Type": body.type || "application/octet-stream" } : {}, authHeaders()),
  });
  if (res.status === 401) askToken(sessionStorage.getItem(TOKEN_KEY) ? "The service refused this token: give it again." : "");
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { const j = await res.json(); msg = `${j.message || msg} (${res.status})`; } catch (e) { /* not JSON */ }
    const err = new Error(msg);
    err.status = res.status;
    const wait = parseFloat(header(res, "Retry-After"));
    err.retryAfter = isNaN(wait) ? null : wait;
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
    const t = sessionStorage.getItem(TOKEN_KEY);
    const problem = t && tokenProblem(t);
    if (problem) {  // kept from an earlier page: it would make every request throw
      sessionStorage.removeItem(TOKEN_KEY);
      askToken(`The stored token cannot be sent: ${problem}. Give it again.`);
    } else if (h.token_required && !t) askToken();
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

// A load or a role switch: cancels what the previous one (or its restorations) still has
// in flight, and an older one stops at its next await once a newer one has begun.
function startAction() {
  const act = ++state.action;
  state.loading = act;
  cancelRuns();
  if (state.loadAbort) state.loadAbort.abort();
  state.loadAbort = new AbortController();
  $("restore-btn").disabled = true;
  return act;
}
function cancelRuns() {
  state.run += 1;  // answers of earlier runs are dropped
  if (state.abort) state.abort.abort();
  state.abort = null;
  clearTimeout(state.timer);
  clearTimeout(state.retryTimer);
  state.timer = state.pending = state.retryTimer = null;
  busy(false);
}

async function loadFile(file) {
  if (!file) return;
  const act = startAction();
  state.redo = null;
  state.file = file;
  state.role = null;
  state.inspected = null;
  state.photo = null;
  state.photoSize = null;
  state.view.fit = true;  // a new picture starts fitted
  clearViewer();
  $("toast").classList.add("hidden");  // an earlier file's error is not this one's
  $("drop").classList.add("loaded");
  $("drop-title").textContent = file.name;
  $("drop-hint").textContent = `${fmtBytes(file.size)} · drop another file to replace it`;
  $("role").classList.add("hidden");
  busy(true, "Reading the file…");
  let role = "photo";
  let info = null;
  if (isJpeg(file)) {
    try {
      info = await (await api("/v1/inspect", file, null, state.loadAbort.signal)).json();
    } catch (e) {
      if (act === state.action) failLoad(file, e, () => loadFile(file));
      return;
    }
    if (act !== state.action) return;
    // a stored caption (or an extreme QF) means a file as the receiver gets it
    if (info.caption != null || (info.quality != null && info.quality <= 10)) role = "received";
  }
  $("role").classList.toggle("hidden", !isJpeg(file));
  state.inspected = info;
  await setRole(role, act);
}

// The dropped file cannot be used: nothing of it (or of the previous file) stays usable.
function failLoad(file, err, redo) {
  if (err.name === "AbortError") return;
  cancelRuns();
  state.loading = 0;
  state.file = state.role = state.inspected = state.photo = state.photoSize = null;
  clearViewer();
  $("role").classList.add("hidden");
  $("restore-btn").disabled = true;
  $("drop-title").textContent = file.name;
  if (err.status === 401) {
    state.redo = redo;  // done again once the token is given
    $("drop-hint").textContent = "waiting for the access token";
  } else {
    $("drop").classList.remove("loaded");
    $("drop-hint").textContent = "could not be used · drop another file";
  }
  toast(err.message);
}

async function setRole(role, act) {
  if (act === undefined) act = startAction();  // a role button
  state.role = role;
  press($("role-photo"), role === "photo");
  press($("role-received"), role === "received");
  $("qf-card").classList.toggle("locked", role === "received");
  $("qf").disabled = role === "received";
  $("before-src").querySelector('[value="photo"]').disabled = role === "received";
  if (role === "received") $("before-src").value = "jpeg";
  state.jpeg = state.jpegCaption = null;
  state.jpegStale = true;
  if (role === "photo") {
    $("qf-note").textContent = "Lower = smaller file, stronger artifacts.";
    state.storedCaption = null;
    $("caption").value = "";
    updateCaptionMeta();
    busy(true, "Reading the photo…");
    const { blob, size } = await shrinkIfLarge(state.file);
    if (act !== state.action) return;  // a newer file or role won meanwhile
    state.photo = blob;
    state.photoSize = size;
    setURL("photo", blob);
    state.loading = 0;
    await pipeline({ first: true });
  } else {
    let info = state.inspected;
    if (!info) {
      try {
        info = await (await api("/v1/inspect", state.file, null, state.loadAbort.signal)).json();
      } catch (e) {
        if (act !== state.action || e.name === "AbortError") return;
        state.loading = 0;
        if (e.status === 401) state.redo = () => setRole(role);
        toast(e.message);
        return;
      }
      if (act !== state.action) return;
    }
    state.inspected = info;
    state.photo = null;
    state.jpeg = state.file;
    state.jpegCaption = info.caption || "";
    state.jpegStale = false;
    state.storedCaption = info.caption || "";
    state.captioner = info.captioner;
    $("caption").value = state.storedCaption;
    $("qf-note").textContent = "The received file's quality is fixed: it is read from its tables.";
    if (info.quality != null) { $("qf").value = Math.min(10, Math.max(1, info.quality)); updateQfBadge(info.quality); }
    showJpegStats(info.total_bytes, info.caption_bytes, info.caption_share, info.quality, [info.width, info.height]);
    $("s-photo").textContent = "—";
    setBefore();
    state.loading = 0;
    await pipeline({ restoreOnly: true });
  }
}

// ------------------------------------------------------------------ pipeline
function currentCaption() { return $("caption").value; }
function captionEdited() { return state.storedCaption !== null && currentCaption() !== state.storedCaption; }

// Run (or merge into) a pipeline after `ms` of quiet: quick changes send one request, the last.
function schedule(opts, ms) {
  if (!state.file) return;
  const prev = state.pending;
  state.pending = prev ? { restoreOnly: prev.restoreOnly && opts.restoreOnly } : opts;
  clearTimeout(state.timer);
  state.timer = setTimeout(() => {
    const next = state.pending || {};
    state.timer = state.pending = null;
    pipeline(next);
  }, ms);
}

async function pipeline(opts = {}) {
  if (!state.file || !state.role || state.loading) return;  // a load runs its own pipeline
  clearTimeout(state.timer);
  clearTimeout(state.retryTimer);
  state.timer = state.pending = state.retryTimer = null;
  const run = ++state.run;
  if (state.abort) state.abort.abort();
  const ctl = new AbortController();
  state.abort = ctl;
  $("restore-btn").disabled = true;
  // an earlier compression that was cut short or failed is done now, whatever changed
  const encode = state.role === "photo" && (!opts.restoreOnly || state.jpegStale || !state.jpeg);
  let retrying = false;
  try {
    if (encode) {
      state.jpegStale = true;
      // the sender's caption is unknown (captioning failed or was cut short): caption again,
      // unless a caption was typed meanwhile
      const recaption = state.storedCaption === null && !currentCaption();
      busy(true, recaption ? "Captioning and compressing…" : "Compressing…");
      const params = { quality: $("qf").value };
      if (!recaption) params.caption = currentCaption();
      const res = await api("/v1/encode", state.photo, params, ctl.signal);
      const jpeg = await res.blob();
      if (run !== state.run) return;
      let caption = params.caption;
      if (recaption) {
        caption = captionHeader(res);
        if (caption == null && header(res, "X-Jpegtext-Caption-Omitted") != null) {
          // a long caption is left out of the headers: the JPEG holds it
          caption = (await (await api("/v1/inspect", jpeg, null, ctl.signal)).json()).caption;
          if (run !== state.run) return;
        }
        caption = caption || "";
        state.storedCaption = caption;
        state.captioner = header(res, "X-Jpegtext-Captioner");
        $("caption").value = caption;
      }
      state.jpeg = jpeg;
      state.jpegCaption = caption;
      state.jpegStale = false;
      const size = (header(res, "X-Jpegtext-Size") || "").split("x").map(Number);
      showJpegStats(+header(res, "X-Jpegtext-Bytes"), +header(res, "X-Jpegtext-Caption-Bytes"),
        +header(res, "X-Jpegtext-Caption-Share"), +header(res, "X-Jpegtext-Quality"), size);
      $("s-photo").textContent = fmtBytes(state.photo.size);
      setBefore();
    }
    if (!state.jpeg) return;
    busy(true, "Restoring…");
    const bound = $("consistency").value;
    // auto: the file's own caption bounds colour too (full); a caption edited here steers (luma),
    // also when it was stored in the file just now by this page playing the sender
    const params = { consistency: bound === "auto" && captionEdited() ? "luma" : bound,
                     ensemble: $("ensemble").value, guidance: $("guidance").value };
    // a received file keeps its stored caption unless the user edited it (text control)
    if (state.role === "received" && captionEdited()) params.caption = currentCaption();
    const sent = params.caption != null ? params.caption : state.jpegCaption;
    const res = await api("/v1/restore", state.jpeg, params, ctl.signal);
    const png = await res.blob();
    if (run !== state.run) return;
    showRestored(png, res, sent);
  } catch (e) {
    if (e.name === "AbortError" || run !== state.run) return;
    if (e.status === 401) {
      state.redo = () => pipeline(opts);
    } else if (opts.first && encode && !state.jpeg && (e.status === 413 || e.status === 422)) {
      failLoad(state.file, e);  // the photo itself is refused
      return;
    } else if (e.status === 503 && e.retryAfter != null && !opts.retried) {
      // the service is full: ask once more for the latest settings after the wait it gives
      const s = Math.min(30, Math.max(0.2, e.retryAfter));
      busy(true, `Service busy: trying again in ${Math.ceil(s)} s…`);
      retrying = true;
      const again = Object.assign({}, opts, { retried: true, restoreOnly: opts.restoreOnly || !state.jpegStale });
      state.retryTimer = setTimeout(() => pipeline(again), s * 1000);
      return;
    }
    toast(e.message);
  } finally {
    if (run === state.run && !retrying) { busy(false); $("restore-btn").disabled = !state.file; }
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
  for (const id of ["dl-jpeg", "dl-png"]) setDownload(id, null);
  $("reset-btn").disabled = true;
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
  setDownload("dl-jpeg", setURL("jpegdl", state.jpeg),
    baseName() + (state.role === "photo" ? `_q${qf}.jpg` : ".jpg"));
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

function showRestored(png, res, sent) {
  const url = setURL("png", png);
  state.seq += 1;
  let caption = captionHeader(res);
  // a caption over 2,048 encoded bytes is left out of the headers: it is the one sent (or read)
  if (caption == null) caption = header(res, "X-Jpegtext-Caption-Omitted") != null ? sent || "" : "";
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
  setDownload("dl-png", url, baseName() + "_restored.png");
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
    press(b, z === "fit" ? v.fit : !v.fit && Math.abs(+z - v.scale) < 1e-6);
  }
}
function showStage() {
  const slider = state.view.mode === "slider";
  $("stage-slider").classList.toggle("hidden", !slider);
  $("stage-side").classList.toggle("hidden", slider);
  $("divider").classList.toggle("hidden", !slider);
  press($("view-slider"), slider);
  press($("view-side"), !slider);
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
    // form controls use these keys themselves (a select's arrows change its value)
    if (e.altKey || e.ctrlKey || e.metaKey || e.defaultPrevented) return;
    if (e.target.closest && e.target.closest("input, select, textarea, button, [contenteditable]")) return;
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

  // keyboard changes come one per key press: only the last setting is sent
  const QUIET_MS = 300;
  $("qf").addEventListener("input", (e) => updateQfBadge(e.target.value));
  $("qf").addEventListener("change", () => schedule({}, QUIET_MS));  // keeps the (maybe edited) caption

  $("caption").addEventListener("input", () => {
    updateCaptionMeta();
    schedule({}, 900);  // restore again once typing pauses
  });
  $("caption").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); pipeline(); }
  });
  $("restore-btn").addEventListener("click", () => pipeline());
  $("reset-btn").addEventListener("click", () => {
    if (state.storedCaption === null) return;
    $("caption").value = state.storedCaption;
    pipeline();
  });
  $("before-src").addEventListener("change", setBefore);
  for (const id of ["consistency", "ensemble", "guidance"]) {
    $(id).addEventListener("change", () => schedule({ restoreOnly: true }, QUIET_MS));
  }
  const useToken = () => {
    const t = $("token").value.trim();
    const problem = tokenProblem(t);
    if (problem) { askToken(`Not used: ${problem}.`); $("token").focus(); return; }
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    $("token-msg").textContent = "";
    $("token-card").classList.add("hidden");
    $("toast").classList.add("hidden");  // the 401's message
    loadHealth();
    const redo = state.redo;  // what the missing token stopped, from its start
    state.redo = null;
    if (redo) redo();
  };
  $("token-btn").addEventListener("click", useToken);
  $("token").addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.isComposing) { e.preventDefault(); useToken(); } });
}

bindControls();
bindViewer();
updateCaptionMeta();
loadHealth();
