// The OR web view: frames and masks arrive as server-sent events (/view/stream); the mask is
// tinted over the frame unless the clinician switched the overlay off; while the picture is frozen
// (long press on the foot pedal) the last live frame stays on screen. window.m2sStats is what the
// browser test reads.
(() => {
  "use strict";
  const video = document.getElementById("video");
  const ctx = video.getContext("2d");
  const chart = document.getElementById("chart");
  const chartCtx = chart.getContext("2d");
  const status = document.getElementById("status");
  const modelText = document.getElementById("model");
  const numbers = document.getElementById("numbers");
  const tint = [60, 220, 60, 110];
  const latencies = [];
  const maskCanvas = document.createElement("canvas");
  const maskCtx = maskCanvas.getContext("2d", { willReadFrequently: true });
  const stats = { frames: 0, lastSeq: 0, missed: 0, maskPixels: 0, latencyMs: NaN, frozen: false, overlay: true };
  window.m2sStats = stats;
  let busy = false;

  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bitmap = (b64, type) => createImageBitmap(new Blob([bytes(b64)], { type }));

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = "status " + (kind || "");
  }

  async function show(f) {
    const frame = await bitmap(f.jpeg, "image/jpeg");
    if (video.width !== frame.width || video.height !== frame.height) {
      video.width = frame.width;
      video.height = frame.height;
    }
    ctx.drawImage(frame, 0, 0);
    frame.close();
    let pixels = 0;
    if (f.mask) {
      const mask = await bitmap(f.mask, "image/png");
      maskCanvas.width = mask.width;
      maskCanvas.height = mask.height;
      maskCtx.drawImage(mask, 0, 0);
      mask.close();
      const image = maskCtx.getImageData(0, 0, maskCanvas.width, maskCanvas.height);
      const d = image.data;
      for (let i = 0; i < d.length; i += 4) {
        const lesion = d[i] > 127;
        if (lesion) pixels++;
        d[i] = tint[0]; d[i + 1] = tint[1]; d[i + 2] = tint[2]; d[i + 3] = lesion ? tint[3] : 0;
      }
      if (f.overlay) {
        maskCtx.putImageData(image, 0, 0);
        ctx.drawImage(maskCanvas, 0, 0, video.width, video.height);
      }
    }
    stats.maskPixels = pixels;
  }

  function drawChart() {
    const w = chart.width, h = chart.height;
    chartCtx.clearRect(0, 0, w, h);
    if (latencies.length < 2) return;
    const max = Math.max(50, ...latencies) * 1.1;
    chartCtx.strokeStyle = "#333";
    chartCtx.fillStyle = "#888";
    chartCtx.font = "12px sans-serif";
    for (let v = 0; v < max; v += 10) {
      const y = h - (v / max) * h;
      chartCtx.beginPath(); chartCtx.moveTo(0, y); chartCtx.lineTo(w, y); chartCtx.stroke();
      if (v % 20 === 0) chartCtx.fillText(v + " ms", 4, y - 2);
    }
    chartCtx.strokeStyle = "#5d5";
    chartCtx.lineWidth = 2;
    chartCtx.beginPath();
    latencies.forEach((v, i) => {
      const x = (i / 299) * w, y = h - (v / max) * h;
      if (i === 0) chartCtx.moveTo(x, y); else chartCtx.lineTo(x, y);
    });
    chartCtx.stroke();
  }

  const source = new EventSource("stream");
  source.addEventListener("status", (e) => setStatus("not serving: " + JSON.parse(e.data), "lost"));
  source.onerror = () => setStatus("connection lost, reconnecting…", "lost");
  source.onmessage = async (e) => {
    const f = JSON.parse(e.data);
    if (stats.lastSeq && f.seq > stats.lastSeq + 1) stats.missed += f.seq - stats.lastSeq - 1;
    stats.lastSeq = f.seq;
    stats.frozen = f.frozen;
    stats.overlay = f.overlay;
    modelText.textContent = f.model;
    // A frozen picture holds the last live frame; a frame still being drawn makes this one skip.
    if (f.frozen) { setStatus("FROZEN", "frozen"); return; }
    if (busy) { stats.missed++; return; }
    busy = true;
    try {
      await show(f);
      stats.frames++;
      stats.latencyMs = Date.now() - f.capture_unix_ms;
      latencies.push(stats.latencyMs);
      if (latencies.length > 300) latencies.shift();
      drawChart();
      setStatus(f.overlay ? "live" : "live (overlay off)", "live");
      numbers.textContent = `#${f.seq} · ${stats.latencyMs.toFixed(0)} ms capture→displayed · ${f.capture_to_send_ms.toFixed(1)} ms in the daemon · missed ${stats.missed}`;
    } finally {
      busy = false;
    }
  };
})();
