// The drive server's live view: numbers from /events (Server-Sent Events), images pulled one at a time.
// Nothing queues: an image is asked for only once the previous one arrived, and only for a newer frame.
"use strict";
// Rates, plot window and top speed come with every state (`config`), from drive/dashboard.py.
const $ = (id) => document.getElementById(id);
const history = [];  // [time_s, steering, throttle, speed] of the plot's window
let latest = null;

function fixed(value, digits, sign) {
  if (value === null || value === undefined) return "–";
  const text = Math.abs(value).toFixed(digits);  // no "-0.000" for a value that rounds to zero
  const negative = value < 0 && Number(text) !== 0;
  return negative ? "-" + text : sign ? "+" + text : text;
}

function show(state) {
  latest = state;
  const { window_s: WINDOW_S, top_mph: TOP_MPH } = state.config;
  $("window").textContent = WINDOW_S;
  for (const sample of state.samples) history.push(sample);
  while (history.length && history[0][0] < state.time_s - WINDOW_S) history.shift();
  $("frame-count").textContent = state.frame;
  $("fps").textContent = fixed(state.fps, 1);
  $("latency").textContent = state.latency_ms === null ? "–" : fixed(state.latency_ms, 2) + " ms";
  $("steering").textContent = fixed(state.steering, 3, true);
  $("throttle").textContent = fixed(state.throttle, 2, true);
  $("speed").textContent = `${fixed(state.speed_mph, 1)} / ${fixed(state.target_mph, 1)} / ${fixed(state.set_speed_mph, 1)}`;
  $("speedfill").style.width = `${Math.min(100, 100 * state.speed_mph / TOP_MPH)}%`;
  $("setmark").style.left = `${Math.min(100, 100 * state.set_speed_mph / TOP_MPH)}%`;
  $("targetmark").style.left = `${Math.min(100, 100 * state.target_mph / TOP_MPH)}%`;
  const sim = $("simulator");
  sim.textContent = state.connected ? "connected" : "not connected";
  sim.className = "state " + (state.connected ? "on" : "off");
  $("saliency-note").textContent = state.saliency_note;
  document.body.dataset.frame = state.frame;  // for scripts and tests reading the page
  plot(state.time_s);
}

function plot(now) {
  const canvas = $("plot"), g = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  g.strokeStyle = "#333"; g.beginPath(); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();
  for (const [index, colour] of [[1, "#60a5fa"], [2, "#f59e0b"]]) {
    g.strokeStyle = colour; g.lineWidth = 1.5; g.beginPath();
    history.forEach((s, i) => {
      const x = w * (1 - (now - s[0]) / latest.config.window_s), y = h / 2 * (1 - Math.max(-1, Math.min(1, s[index])));
      if (i) g.lineTo(x, y); else g.moveTo(x, y);
    });
    g.stroke();
  }
}

// Pull `url` into `img` whenever a newer frame exists, at most `rate` (a key of the state's config)
// a second, one request at a time.
function pull(img, url, rate, wanted) {
  let shown = -1;
  const next = () => {
    if (!latest) { setTimeout(next, 100); return; }
    const hz = latest.config[rate];
    if (!wanted() || latest.frame === shown) { setTimeout(next, 1000 / hz); return; }
    const frame = latest.frame, started = performance.now();
    img.onload = img.onerror = () => {
      shown = frame;
      setTimeout(next, Math.max(0, 1000 / hz - (performance.now() - started)));
    };
    img.src = `${url}?frame=${frame}`;
  };
  next();
}

const link = $("link");
const events = new EventSource("/events");
events.onopen = () => { link.textContent = "live"; link.className = "state on"; };
events.onerror = () => { link.textContent = "drive server unreachable, retrying"; link.className = "state off"; };
events.onmessage = (message) => show(JSON.parse(message.data));
pull($("camera"), "/camera.jpg", "camera_hz", () => true);
pull($("saliency"), "/saliency.jpg", "saliency_hz", () => latest.saliency);
