// pix2pix serve: draw on a canvas at the model's input size, see the translation beside it.
// Plain browser JavaScript, no libraries: everything this page needs comes from this server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });

  const DEBOUNCE_MS = 150; // wait for a pause in the drawing ...
  const MAX_WAIT_MS = 600; // ... but refresh at least this often while drawing goes on
  const UNDO_DEPTH = 40;

  const state = {
    info: null,
    labels: false, // a label-map model: exact class colours, no antialiasing anywhere
    tool: "pen",
    colour: [0, 0, 0],
    background: [255, 255, 255],
    size: 3,
    undo: [],
    drawing: null, // {data, x, y} during a stroke
    seq: 0, // the newest request; older answers are dropped
    controller: null,
    timer: null,
    pendingSince: null,
    resultUrl: null,
    token: null,
  };

  // ---- the API, with the bearer token when the server wants one
  function readToken() {
    const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
    if (match) {
      sessionStorage.setItem("pix2pix-token", decodeURIComponent(match[1]));
      // keep the token out of the address bar, history and screenshots
      history.replaceState(null, "", window.location.pathname + window.location.search);
    }
    state.token = sessionStorage.getItem("pix2pix-token");
  }

  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}) };
    if (state.token) headers.Authorization = "Bearer " + state.token;
    const response = await fetch(path, { ...options, headers });
    if (response.status === 401) {
      const token = window.prompt("This server needs a token (pix2pix serve --token):");
      if (token) {
        state.token = token.trim();
        sessionStorage.setItem("pix2pix-token", state.token);
        return api(path, options);
      }
    }
    return response;
  }

  async function errorText(response) {
    try {
      return (await response.json()).error;
    } catch {
      return `${response.status} ${response.statusText}`;
    }
  }

  function status(message) {
    $("status").textContent = message || "";
  }

  // ---- pixels: our own stamping and filling, so label colours stay exact
  const css = (rgb) => `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
  const hex = (rgb) => "#" + rgb.map((c) => c.toString(16).padStart(2, "0")).join("");

  function paintColour() {
    return state.tool === "eraser" ? state.background : state.colour;
  }

  function setPixel(data, x, y, rgb) {
    if (x < 0 || y < 0 || x >= data.width || y >= data.height) return;
    const i = (y * data.width + x) * 4;
    data.data[i] = rgb[0];
    data.data[i + 1] = rgb[1];
    data.data[i + 2] = rgb[2];
    data.data[i + 3] = 255;
  }

  // a disc of diameter `size` around (cx, cy), in canvas pixel coordinates
  function stamp(data, cx, cy, rgb) {
    const r = state.size / 2;
    setPixel(data, Math.floor(cx), Math.floor(cy), rgb);
    for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
      for (let x = Math.floor(cx - r); x <= Math.ceil(cx + r); x++) {
        const dx = x + 0.5 - cx;
        const dy = y + 0.5 - cy;
        if (dx * dx + dy * dy <= r * r) setPixel(data, x, y, rgb);
      }
    }
  }

  function strokeTo(x, y) {
    const d = state.drawing;
    const rgb = paintColour();
    const distance = Math.hypot(x - d.x, y - d.y);
    const steps = Math.max(1, Math.ceil(distance / Math.max(0.5, state.size / 4)));
    for (let s = 1; s <= steps; s++) {
      stamp(d.data, d.x + ((x - d.x) * s) / steps, d.y + ((y - d.y) * s) / steps, rgb);
    }
    d.x = x;
    d.y = y;
    ctx.putImageData(d.data, 0, 0);
  }

  // scanline flood fill of the region of exactly the colour under (x, y)
  function fill(x, y, rgb) {
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const { width, height } = data;
    const px = data.data;
    const at = (i) => (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
    const start = (y * width + x) * 4;
    const target = at(start);
    const alpha = px[start + 3];
    if (target === ((rgb[0] << 16) | (rgb[1] << 8) | rgb[2]) && alpha === 255) return false;
    const same = (i) => at(i) === target && px[i + 3] === alpha;
    const stack = [[x, y]];
    while (stack.length) {
      let [sx, sy] = stack.pop();
      while (sx > 0 && same((sy * width + sx - 1) * 4)) sx--;
      let up = false;
      let down = false;
      for (; sx < width && same((sy * width + sx) * 4); sx++) {
        setPixel(data, sx, sy, rgb);
        if (sy > 0) {
          const hit = same(((sy - 1) * width + sx) * 4);
          if (hit && !up) stack.push([sx, sy - 1]);
          up = hit;
        }
        if (sy < height - 1) {
          const hit = same(((sy + 1) * width + sx) * 4);
          if (hit && !down) stack.push([sx, sy + 1]);
          down = hit;
        }
      }
    }
    ctx.putImageData(data, 0, 0);
    return true;
  }

  function clearCanvas() {
    ctx.fillStyle = css(state.background);
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }

  function pushUndo() {
    state.undo.push(ctx.getImageData(0, 0, canvas.width, canvas.height));
    if (state.undo.length > UNDO_DEPTH) state.undo.shift();
    $("undo").disabled = false;
  }

  function undo() {
    const last = state.undo.pop();
    if (!last) return;
    ctx.putImageData(last, 0, 0);
    $("undo").disabled = state.undo.length === 0;
    schedule();
  }

  // an image (upload or starter) stretched onto the canvas; nearest neighbour for label maps
  function drawImage(image) {
    pushUndo();
    clearCanvas();
    ctx.imageSmoothingEnabled = !state.labels;
    ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
    schedule();
  }

  function canvasPoint(event) {
    const rect = canvas.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * canvas.width) / rect.width,
      ((event.clientY - rect.top) * canvas.height) / rect.height,
    ];
  }

  // ---- translation: debounced, the newest request wins
  // body[data-pending] is "true" from a change until its result is shown (tests wait on it)
  function setPending(pending) {
    document.body.dataset.pending = String(pending);
  }

  function schedule() {
    setPending(true);
    const now = performance.now();
    if (state.pendingSince === null) state.pendingSince = now;
    clearTimeout(state.timer);
    const delay = Math.max(0, Math.min(DEBOUNCE_MS, MAX_WAIT_MS - (now - state.pendingSince)));
    state.timer = setTimeout(() => {
      state.pendingSince = null;
      translate();
    }, delay);
  }

  function serverTiming(header) {
    const timings = {};
    for (const part of (header || "").split(",")) {
      const match = /^\s*([\w-]+);dur=([\d.]+)/.exec(part);
      if (match) timings[match[1]] = Number(match[2]);
    }
    return timings;
  }

  async function translate() {
    const seq = ++state.seq;
    if (state.controller) state.controller.abort(); // its answer would be stale
    const controller = new AbortController();
    state.controller = controller;
    const body = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const params = new URLSearchParams();
    const mode = $("test-mode").value;
    params.set("test_mode", mode);
    if (mode === "paper") {
      // a fixed seed: the same drawing gives the same picture, so the result only changes
      // where the drawing does
      params.set("seed", String(Math.max(0, Math.floor(Number($("seed").value) || 0))));
    }
    const started = performance.now();
    try {
      const response = await api("/api/translate?" + params, {
        method: "POST",
        headers: { "Content-Type": "image/png" },
        body,
        signal: controller.signal,
      });
      if (seq !== state.seq) return;
      if (!response.ok) {
        status(await errorText(response));
        if (state.pendingSince === null) setPending(false);
        return;
      }
      const image = await response.blob();
      if (seq !== state.seq) return;
      showResult(image, performance.now() - started, serverTiming(response.headers.get("Server-Timing")), seq);
    } catch (error) {
      if (error.name === "AbortError") return;
      status("The server cannot be reached: " + error.message);
      if (state.pendingSince === null) setPending(false);
    }
  }

  function showResult(blob, milliseconds, timing, seq) {
    if (state.resultUrl) URL.revokeObjectURL(state.resultUrl);
    state.resultUrl = URL.createObjectURL(blob);
    const result = $("result");
    result.src = state.resultUrl;
    result.hidden = false;
    result.dataset.seq = String(seq);
    $("placeholder").hidden = true;
    const download = $("download");
    download.href = state.resultUrl;
    download.classList.remove("disabled");
    download.removeAttribute("aria-disabled");
    const model = timing.inference === undefined ? "" : ` · model ${timing.inference.toFixed(0)} ms`;
    $("latency").textContent = `${milliseconds.toFixed(0)} ms round trip${model}`;
    status("");
    // no newer change waits for its turn: what is shown is the drawing as it is
    if (state.pendingSince === null && seq === state.seq) {
      result.decode().then(() => seq === state.seq && state.pendingSince === null && setPending(false));
    }
  }

  // ---- tools
  function selectTool(tool) {
    state.tool = tool;
    for (const button of document.querySelectorAll(".tool")) {
      button.classList.toggle("active", button.dataset.tool === tool);
    }
  }

  function buildPalette(palette) {
    const box = $("palette");
    box.hidden = false;
    palette.forEach((entry, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "swatch";
      button.title = `${entry.name} ${hex(entry.color)}`;
      const chip = document.createElement("span");
      chip.className = "chip";
      chip.style.background = css(entry.color);
      button.append(chip, document.createTextNode(entry.name));
      button.addEventListener("click", () => {
        state.colour = entry.color;
        for (const other of box.children) other.classList.toggle("active", other === button);
        if (state.tool === "eraser") selectTool("pen");
      });
      box.append(button);
      // the first class is the background; start drawing with the next one
      if (index === Math.min(1, palette.length - 1)) button.click();
    });
  }

  // the starter buttons; returns the first starter's bitmap (null when there are none)
  async function loadStarters() {
    const response = await api("/api/starters");
    if (!response.ok) return null;
    const { urls } = await response.json();
    if (!urls.length) return null;
    $("starters-box").hidden = false;
    let first = null;
    for (const [index, url] of urls.entries()) {
      const image = await api(url);
      if (!image.ok) continue;
      const blob = await image.blob();
      const bitmap = await createImageBitmap(blob);
      const button = document.createElement("button");
      button.type = "button";
      button.title = `starter drawing ${index + 1}`;
      button.dataset.starter = String(index);
      const preview = document.createElement("img");
      preview.alt = `starter drawing ${index + 1}`;
      preview.src = URL.createObjectURL(blob); // fetched with the token, which <img> cannot send
      button.append(preview);
      button.addEventListener("click", () => drawImage(bitmap));
      $("starters").append(button);
      first = first || bitmap;
    }
    return first;
  }

  function bindEvents() {
    canvas.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      const [x, y] = canvasPoint(event);
      if (state.tool === "fill") {
        const snapshot = ctx.getImageData(0, 0, canvas.width, canvas.height);
        if (fill(Math.floor(x), Math.floor(y), paintColour())) {
          state.undo.push(snapshot);
          $("undo").disabled = false;
          schedule();
        }
        return;
      }
      pushUndo();
      canvas.setPointerCapture(event.pointerId);
      state.drawing = { data: ctx.getImageData(0, 0, canvas.width, canvas.height), x, y };
      strokeTo(x, y);
      schedule();
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!state.drawing) return;
      for (const e of event.getCoalescedEvents ? event.getCoalescedEvents() : [event]) {
        strokeTo(...canvasPoint(e));
      }
      schedule();
    });
    const end = () => {
      if (state.drawing) schedule();
      state.drawing = null;
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);

    for (const button of document.querySelectorAll(".tool")) {
      button.addEventListener("click", () => selectTool(button.dataset.tool));
    }
    $("size").addEventListener("input", () => {
      state.size = Number($("size").value);
      $("size-value").textContent = String(state.size);
    });
    $("colour").addEventListener("input", () => {
      const value = $("colour").value;
      state.colour = [1, 3, 5].map((i) => parseInt(value.slice(i, i + 2), 16));
      if (state.tool === "eraser") selectTool("pen");
    });
    $("undo").addEventListener("click", undo);
    $("clear").addEventListener("click", () => {
      pushUndo();
      clearCanvas();
      schedule();
    });
    $("upload").addEventListener("change", async () => {
      const file = $("upload").files[0];
      $("upload").value = "";
      if (!file) return;
      try {
        drawImage(await createImageBitmap(file));
      } catch {
        status(`${file.name} is not an image this browser can read; use a PNG or JPEG.`);
      }
    });
    $("test-mode").addEventListener("change", () => {
      $("seed").disabled = $("test-mode").value !== "paper";
      schedule();
    });
    $("seed").addEventListener("change", () => $("test-mode").value === "paper" && schedule());
    document.addEventListener("keydown", (event) => {
      if (event.target instanceof HTMLInputElement) return;
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
        event.preventDefault();
        undo();
      } else if (!event.ctrlKey && !event.metaKey && !event.altKey) {
        const tool = { p: "pen", e: "eraser", f: "fill" }[event.key.toLowerCase()];
        if (tool) selectTool(tool);
      }
    });
  }

  async function start() {
    readToken();
    bindEvents();
    const response = await api("/api/info");
    if (!response.ok) {
      status(await errorText(response));
      return;
    }
    const info = (state.info = await response.json());
    const { width, height, channels } = info.input;
    canvas.width = width;
    canvas.height = height;
    $("model-name").textContent = `${info.name} · ${info.model_type} · ${width}x${height} · ${info.device}`;
    document.title = `pix2pix serve: ${info.name}`;
    // the page opens on the mode the model records (the official pix2pix models: paper)
    $("test-mode").value = info.test_mode;
    $("seed").value = String(info.seed);
    $("seed").disabled = info.test_mode !== "paper";
    if (info.palette) {
      state.labels = true;
      state.background = info.palette[0].color;
      buildPalette(info.palette);
    } else {
      // edge-style drawing: black strokes on white (gray models get the luminance)
      $("picker").hidden = false;
      state.size = 2;
      $("size").value = "2";
      $("size-value").textContent = "2";
      if (channels === 1) $("colour").disabled = true;
    }
    clearCanvas();
    // a label-map model opens on its first starter drawing, so the first result is a facade
    // rather than the translation of an empty canvas; it is the page's first state (no undo)
    const first = await loadStarters();
    if (first) {
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(first, 0, 0, canvas.width, canvas.height);
    }
    document.body.dataset.ready = "true";
    schedule();
  }

  start().catch((error) => status("The page could not start: " + error.message));
})();
